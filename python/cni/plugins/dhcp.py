# SPDX-License-Identifier: Apache-2.0
"""The dhcp IPAM plugin: addresses leased by a DHCP server, through `cni dhcp daemon`.

Keys of the reference, under `ipam`: `daemonSocketPath` (default `/run/cni/dhcp.sock`),
`request` (`option`, by name or number, and `skipDefault`: the routers and subnet mask
are asked for unless one says it), `provide` (`option` with a `value`, or `fromArg`, a
CNI_ARGS key whose value is sent), `priority` (the metric of the routes the lease gives).
The daemon runs the DHCP client inside the pod's namespace (see :mod:`cni.dhcp`).

ADD and CHECK ask the daemon for the attachment's lease (CHECK: that prevResult holds it);
DEL has it released, GC those of the network's attachments the runtime no longer lists.
With no daemon answering, DEL still succeeds: the release waits in
`<socket>.pending/` for the next daemon; STATUS fails with code 50. The interface plugins
of this package run a dhcp DEL before they delete the pod's interface, so the DHCPRELEASE
leaves from the pod's address and the lease is free at once.
"""

from __future__ import annotations

from cni import _posix, skel, versions
from cni.errors import CNIError, PluginNotAvailable, TryAgainLater

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

ABOUT = "dhcp IPAM plugin (cni package)"
WAIT = 60.0  # the daemon's own waits are bounded by its --timeout, several per request


def _option_problem(value: object) -> str | None:
    from cni.dhcp.packet import option_code

    if not isinstance(value, str) or option_code(value) is None:
        return "must be an option name (routers, subnet-mask, host-name, ...) or a number from 1 to 254"
    return None


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import UINT32, integer, items, object_check, path_string

    def boolean(value: object) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"

    def text(value: object) -> str | None:
        return None if isinstance(value, str) and len(value) <= 255 else "must be a string of at most 255 bytes"

    request = object_check({"option": _option_problem, "skipDefault": boolean})
    provide = object_check({"option": _option_problem, "value": text, "fromArg": text}, required=("option",))
    return (
        path_string("ipam.daemonSocketPath", "the daemon's socket (default /run/cni/dhcp.sock)"),
        items("ipam.request", "options to ask the server for", request, {"type": "object"}),
        items("ipam.provide", "options to send the server", provide, {"type": "object"}),
        integer("ipam.priority", 0, UINT32, "the metric of the lease's routes"),
    )


def _socket_path(args: skel.CmdArgs) -> str:
    from cni.dhcp import DEFAULT_SOCKET

    ipam = args.conf.get("ipam")
    path = ipam.get("daemonSocketPath") if isinstance(ipam, dict) else None
    return path if isinstance(path, str) and path else DEFAULT_SOCKET


def _request(args: skel.CmdArgs, method: str) -> dict[str, object]:
    return {
        "method": method,
        "containerID": args.container_id,
        "netns": _posix.absolute(args.netns) if args.netns else "",
        "ifname": args.ifname,
        "args": args.args,
        "conf": args.conf,
    }


class Unreachable(Exception):
    """No daemon answers on the socket."""


def _call(path: str, request: dict[str, object]) -> dict[str, object]:
    import socket

    from cni._native import dumps, loads

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(WAIT)
    try:
        try:
            sock.connect(path)
        except OSError as err:
            raise Unreachable(f"no dhcp daemon answers on {path}: {err.strerror}") from None
        sock.sendall(dumps(request).encode())
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise TryAgainLater(f"the dhcp daemon on {path} did not answer within {WAIT:.0f} s") from None
    finally:
        sock.close()
    if data.startswith(b"HTTP/"):
        raise CNIError(f"the daemon on {path} speaks Go net/rpc (the reference's): run `cni dhcp daemon` there")
    answer = loads(data)
    if not isinstance(answer, dict):
        raise CNIError(f"the dhcp daemon on {path} answered {data[:80]!r}")
    error = answer.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise CNIError(str(error.get("msg")), code=code if isinstance(code, int) else 999)
    result = answer.get("result")
    return result if isinstance(result, dict) else {}


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    try:
        return _call(_socket_path(args), _request(args, "allocate"))
    except Unreachable as err:
        raise TryAgainLater(f"dhcp: {err}") from None


def cmd_check(args: skel.CmdArgs) -> None:
    lease = cmd_add(args)
    prev = args.conf.get("prevResult")
    from cni.conversion import convert

    held = convert(prev, versions.CURRENT, from_version=args.cni_version) if isinstance(prev, dict) else {}
    held_ips, lease_ips = held.get("ips"), lease.get("ips")
    present = {ip.get("address") for ip in held_ips if isinstance(ip, dict)} if isinstance(held_ips, list) else set()
    for ip in lease_ips if isinstance(lease_ips, list) else []:
        if isinstance(ip, dict) and ip.get("address") not in present:
            raise CNIError(f"dhcp: the lease's {ip.get('address')} is not in the result being checked")


def cmd_del(args: skel.CmdArgs) -> None:
    path = _socket_path(args)
    request = _request(args, "release")
    try:
        _call(path, request)
    except Unreachable:
        from cni._native import dumps
        from cni.dhcp import pending_dir

        directory = pending_dir(path)
        _posix.makedirs(directory, 0o700)
        name = f"{args.container_id}:{args.conf['name']}:{args.ifname}.json"
        _posix.replace_file(directory, name, dumps(request).encode())


def cmd_gc(args: skel.CmdArgs) -> None:
    request = {**_request(args, "gc"), "valid": args.valid_attachments()}
    try:
        _call(_socket_path(args), request)
    except Unreachable as err:
        raise TryAgainLater(f"dhcp: {err}: the leases are kept until a daemon can collect them") from None


def cmd_status(args: skel.CmdArgs) -> None:
    try:
        _call(_socket_path(args), {"method": "status"})
    except Unreachable as err:
        raise PluginNotAvailable(f"dhcp: {err}") from None


PLUGIN = skel.Plugin(
    "dhcp",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    status=cmd_status,
    about=ABOUT,
    fields=fields,
)
