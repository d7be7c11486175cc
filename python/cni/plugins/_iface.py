# SPDX-License-Identifier: Apache-2.0
"""What every interface plugin does with IPAM and the container's interface.

Shared by bridge, macvlan and dummy: run the IPAM delegate and hold its result in the
current shape, put the addresses and routes on the container's interface (routes without a
gateway use the gateway of their family, as the reference's ConfigureIface does), switch
off router advertisements and DAD where asked, and tear down in the right order.
"""

from __future__ import annotations

import errno
import posix

from cni import cniargs, skel, versions
from cni._native import Link, Netlink, write_sysctl
from cni.delegate import delegate_add, delegate_check, delegate_del, delegate_gc, delegate_status
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from cni.plugins._fields import Field


def ipam_type(args: skel.CmdArgs) -> str | None:
    ipam = args.conf.get("ipam")
    value = ipam.get("type") if isinstance(ipam, dict) else None
    return value if isinstance(value, str) and value else None


def ipam_add(args: skel.CmdArgs) -> dict[str, object]:
    """The IPAM delegate's result, in the 1.1.0 shape."""
    from cni.conversion import convert

    kind = ipam_type(args)
    if kind is None:
        return {"cniVersion": versions.CURRENT}
    result = delegate_add(kind, args.stdin_data, args.env)
    return convert(result, versions.CURRENT, from_version=args.cni_version)


def ipam_del(args: skel.CmdArgs) -> None:
    kind = ipam_type(args)
    if kind is not None:
        delegate_del(kind, args.stdin_data, args.env)


def ipam_forward(args: skel.CmdArgs) -> None:
    """CHECK, STATUS and GC go to the IPAM delegate, as the spec requires."""
    kind = ipam_type(args)
    if kind is None:
        return
    verb = {"CHECK": delegate_check, "STATUS": delegate_status, "GC": delegate_gc}[args.command]
    verb(kind, args.stdin_data, args.env)


def sysctl_if_present(key: str, value: str, netns: str | None = None) -> None:
    """Writes a sysctl that may be absent (IPv6 disabled): absent means nothing to do."""
    try:
        write_sysctl(key, value, netns)
    except NetlinkError as err:
        if err.errno != errno.ENOENT:
            raise


def enable_forwarding(v4: bool) -> None:
    """Routing through the node (a gateway on the bridge, ptp's host side) needs forwarding."""
    write_sysctl("net/ipv4/ip_forward" if v4 else "net/ipv6/conf/all/forwarding", "1")


def config_mtu(conf: dict[str, object], kind: str) -> int:
    """The config's `mtu`: 0 (leave the default) up to 65535."""
    mtu = conf.get("mtu", 0)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 0 <= mtu <= 65535:
        raise InvalidNetworkConfig(f"{kind}: invalid mtu {mtu!r}")
    return mtu


def config_bool(conf: dict[str, object], key: str, kind: str) -> bool:
    """A boolean key (absent or null: false)."""
    value = conf.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidNetworkConfig(f"{kind}: {key} must be true or false, not {value!r}")
    return value


def config_uint(conf: dict[str, object], key: str, kind: str) -> int:
    """A non-negative 32-bit integer key (absent or null: 0)."""
    value = conf.get(key, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise InvalidNetworkConfig(f"{kind}: invalid {key} {value!r} (must be an integer from 0 to 4294967295)")
    return value


def config_master(conf: dict[str, object], kind: str, *, required: bool = False) -> str | None:
    """The config's `master` interface name (None: the node's default-route interface)."""
    master = conf.get("master")
    if master is None and not required:
        return None
    if not isinstance(master, str) or not master:
        raise InvalidNetworkConfig(
            f"{kind}: master is required: the interface to attach to"
            if master is None
            else f"{kind}: invalid master {master!r}"
        )
    return master


def config_mode(conf: dict[str, object], kind: str, modes: tuple[str, ...]) -> str:
    """The config's `mode`, one of `modes` (the first is the default)."""
    mode = conf.get("mode") or modes[0]
    if mode not in modes:
        raise InvalidNetworkConfig(f"{kind}: unknown mode {mode!r}", f"one of {', '.join(modes)}")
    return str(mode)


def requested_mac(args: skel.CmdArgs) -> str | None:
    """The container MAC, by the reference's precedence: runtimeConfig.mac, args.cni.mac,
    CNI_ARGS MAC, then the config's own `mac`."""
    conf = args.conf
    runtime = conf.get("runtimeConfig")
    cni_args = conf.get("args")
    cni = cni_args.get("cni") if isinstance(cni_args, dict) else None
    candidates = (
        runtime.get("mac") if isinstance(runtime, dict) else None,
        cni.get("mac") if isinstance(cni, dict) else None,
        cniargs.load(args.args, ["MAC"]).get("MAC"),
        conf.get("mac"),
    )
    return next((mac for mac in candidates if isinstance(mac, str) and mac), None)


def random_veth_name() -> str:
    """A host veth name with a random part, as the reference makes them: a recreated pod
    must not collide with a stale veth."""
    return "veth" + posix.urandom(4).hex()


def no_router_advertisements(ifname: str, netns: str | None = None) -> None:
    """accept_ra=0: a container must not re-route the node's IPv6 (CVE-2020-10749)."""
    sysctl_if_present(f"net/ipv6/conf/{ifname}/accept_ra", "0", netns)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def result_ips(result: dict[str, object]) -> list[dict[str, object]]:
    ips = result.get("ips")
    return [ip for ip in ips if isinstance(ip, dict)] if isinstance(ips, list) else []


def configure(
    pod: Netlink,
    args: skel.CmdArgs,
    result: dict[str, object],
    *,
    default_gateway: bool = False,
    enable_dad: bool = False,
) -> None:
    """Brings the container interface up with the result's addresses and routes."""
    if not enable_dad:
        sysctl_if_present(f"net/ipv6/conf/{args.ifname}/accept_dad", "0", args.netns)
    ips = result_ips(result)
    raw = result.get("routes")
    routes = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    if default_gateway:
        families = {("." in str(r.get("dst"))) for r in routes if str(r.get("dst")).endswith("/0")}
        for ip in ips:
            gateway = ip.get("gateway")
            v4 = "." in str(ip["address"])
            if isinstance(gateway, str) and v4 not in families:
                routes.append({"dst": "0.0.0.0/0" if v4 else "::/0", "gw": gateway})
                families.add(v4)
        result["routes"] = routes
    wanted: list[dict[str, object]] = []
    for route in routes:
        dst = route.get("dst")
        if not isinstance(dst, str):
            raise InvalidNetworkConfig(f"route without a dst: {route!r}")
        gw = route.get("gw")
        if gw is None:
            gw = next(
                (ip.get("gateway") for ip in ips if ("." in str(ip["address"])) == ("." in dst) and ip.get("gateway")),
                None,
            )
        wanted.append(
            {
                "dst": dst,
                "gw": gw if isinstance(gw, str) else None,
                **{key: _int(route.get(key)) for key in ("priority", "table", "scope", "mtu", "advmss")},
            }
        )
    # Up, addresses and routes in one netlink batch (one send, one round of answers).
    pod.configure(args.ifname, addresses=[str(ip["address"]) for ip in ips], routes=wanted)


def open_pod(args: skel.CmdArgs) -> Netlink | None:
    """The container's namespace, or None when it is gone (DEL must still succeed)."""
    if not args.netns:
        return None
    try:
        return Netlink(args.netns)
    except NetlinkError:
        return None


def delete_container_link(args: skel.CmdArgs) -> None:
    """DEL's first step: the interface goes before its addresses are released."""
    pod = open_pod(args)
    if pod is None or pod.link(args.ifname) is None:
        return
    try:
        pod.del_link(args.ifname)
    except NetlinkError as err:
        if err.errno != errno.ENODEV:  # gone meanwhile
            raise


def check_container(args: skel.CmdArgs) -> Link:
    """CHECK's common part: the interface exists, keeps its MAC and its addresses."""
    prev = args.conf.get("prevResult")
    assert isinstance(prev, dict)
    pod = Netlink(args.netns)
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"container interface {args.ifname} not found")
    for iface in prev.get("interfaces") or []:
        ours = isinstance(iface, dict) and iface.get("name") == args.ifname and iface.get("sandbox")
        if ours and iface.get("mac") and iface["mac"] != link.mac:
            raise CNIError(f"{args.ifname} has MAC {link.mac}, expected {iface['mac']}")
    present = set(pod.addresses(args.ifname))
    for ip in prev.get("ips") or []:
        if isinstance(ip, dict) and ip.get("address") not in present:
            raise CNIError(f"{args.ifname} lost address {ip.get('address')}")
    return link


def container_interface(pod: Netlink, args: skel.CmdArgs) -> dict[str, object]:
    """The result's entry for the container's interface (it must exist by now)."""
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"{args.ifname} vanished while being set up")
    return {"name": args.ifname, "mac": link.mac, "sandbox": args.netns}


def finish_add(
    pod: Netlink,
    args: skel.CmdArgs,
    sysctls: tuple[tuple[str, str], ...] = (),
    *,
    addresses: dict[str, object] | None = None,
) -> dict[str, object]:
    """After a plugin created the container's only interface: IPAM (or, when chained
    without IPAM, the `addresses` of the previous result), addresses, routes.

    On any failure the interface is deleted and the addresses released (F8).
    """
    ipam_done = False
    try:
        if addresses is None:
            result = ipam_add(args)
            ipam_done = True
        else:
            result = addresses
        result["interfaces"] = [container_interface(pod, args)]
        for ip in result_ips(result):
            ip["interface"] = 0
        for key, value in sysctls:
            sysctl_if_present(key, value, args.netns)
        configure(pod, args, result)
    except BaseException as err:
        undo_add(args, ipam_done=ipam_done, cause=err)
        raise
    return result


def add_recorded_route(pod: Netlink, ifname: str, route: dict[str, object], table: int | None = None) -> None:
    """Adds (or replaces) through `ifname` a route as a plugin recorded it (`dst`, and
    optionally `gw`, `priority`, `scope`, `src`, `protocol`, `table`; `table` given here
    overrides the record's)."""

    def number(key: str) -> int | None:
        value = route.get(key)
        return value if isinstance(value, int) else None

    def text(key: str) -> str | None:
        value = route.get(key)
        return value if isinstance(value, str) else None

    pod.add_route(
        str(route["dst"]),
        gw=text("gw"),
        dev=ifname,
        priority=number("priority"),
        table=table if table is not None else number("table"),
        scope=number("scope"),
        src=text("src"),
        protocol=number("protocol"),
        replace=True,
    )


def releases_first(args: skel.CmdArgs) -> bool:
    """Whether IPAM DEL must run while the interface is still there: dhcp gives its lease
    back with a DHCPRELEASE from the pod's address, through that interface (the reference
    deletes the interface first, and the lease stays taken until it expires)."""
    return ipam_type(args) == "dhcp"


def undo_add(args: skel.CmdArgs, *, ipam_done: bool, cause: BaseException) -> None:
    """After a failed ADD: remove the container's interface and release what IPAM gave,
    both whatever the other does; their failures go into `cause`'s details."""
    from cni.plugins._teardown import Teardown

    teardown = Teardown(str(args.conf.get("type") or "plugin"))
    early = ipam_done and releases_first(args)
    if early:
        teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.step("delete the container interface", delete_container_link, args)
    teardown.step("remove the masquerade rules", masq_teardown, args)
    if ipam_done and not early:
        teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.note_on(cause)


def open_free_pod(args: skel.CmdArgs) -> Netlink:
    """The container's namespace, where CNI_IFNAME must not exist yet (the spec's rule)."""
    pod = Netlink(args.netns)
    if pod.link(args.ifname) is not None:
        raise CNIError(f"container interface name provided ({args.ifname}) already exists")
    return pod


def interface_plugin(
    name: str,
    *,
    add: Callable[[skel.CmdArgs], object],
    validate: Callable[[skel.CmdArgs], object],
    kind: str | None,
    about: str,
    fields: Callable[[], tuple[Field, ...]] | None = None,
    check_more: Callable[[skel.CmdArgs], None] | None = None,
    delete: Callable[[skel.CmdArgs], None] | None = None,
    check: Callable[[skel.CmdArgs], None] | None = None,
    masquerade: bool = False,
) -> skel.Plugin:
    """An interface plugin whose DEL, CHECK, STATUS and GC are the common ones.

    DEL removes the container's interface and then releases its addresses (both run, see
    :mod:`cni.plugins._teardown`); CHECK asks IPAM, then checks the interface (of link `kind`,
    unless None), its MAC and addresses; STATUS and GC go to IPAM. `validate` checks the
    config first for every verb; `delete` and `check` replace the common DEL and CHECK.
    With `masquerade` (bridge, ptp: the `ipMasq` key), DEL and GC also remove masquerade
    rules and CHECK verifies them (:mod:`cni.plugins._masq`).
    """

    def common_delete(args: skel.CmdArgs) -> None:
        from cni.plugins._teardown import Teardown

        validate(args)
        teardown = Teardown(name)
        early = releases_first(args)
        if early:
            teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
        teardown.step("delete the container interface", delete_container_link, args)
        if masquerade:
            teardown.step("remove the masquerade rules", masq_teardown, args)
        if not early:
            teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
        teardown.finish()

    def common_check(args: skel.CmdArgs) -> None:
        validate(args)
        ipam_forward(args)
        link = check_container(args)
        if kind is not None and link.kind != kind:
            raise CNIError(f"{args.ifname} is a {link.kind} link, not {kind}")
        if check_more is not None:
            check_more(args)
        if masquerade:
            masq_check(args)

    def forward(args: skel.CmdArgs) -> None:
        validate(args)
        ipam_forward(args)

    def collect(args: skel.CmdArgs) -> None:
        forward(args)
        if masquerade:
            from cni.plugins import _masq

            _masq.gc(args)

    return skel.Plugin(
        name,
        add=add,
        delete=delete or common_delete,
        check=check or common_check,
        status=forward,
        gc=collect,
        about=about,
        fields=fields,
    )


def masq_setup(args: skel.CmdArgs, ips: list[dict[str, object]]) -> None:
    """ADD's `ipMasq`: masquerade the attachment's addresses."""
    if args.conf.get("ipMasq") is True:
        from cni.plugins import _masq

        _masq.setup(args, [str(ip["address"]) for ip in ips])


def masq_teardown(args: skel.CmdArgs) -> None:
    from cni.plugins import _masq

    _masq.teardown(args)


def masq_check(args: skel.CmdArgs) -> None:
    if args.conf.get("ipMasq") is True:
        from cni.plugins import _masq

        _masq.check(args, _masq.addresses(args.conf.get("prevResult")))


def default_route_interface(node: Netlink, kind: str) -> str:
    """The interface of the IPv4 default route in `node`'s namespace (the default master)."""
    for route in node.routes(4):
        if route.dst == "0.0.0.0/0" and route.table == 254 and route.oif is not None:
            for link in node.links():
                if link.index == route.oif:
                    return link.name
    raise InvalidNetworkConfig(f"{kind}: no master given and no IPv4 default route to take it from")


def add_stacked_link(
    args: skel.CmdArgs,
    kind: str,
    master: str | None,
    *,
    mode: str | None = None,
    vlan_id: int = 0,
    mtu: int = 0,
    mac: str | None = None,
    sysctls: tuple[tuple[str, str], ...] = (),
    in_container: bool = False,
    bc_queue_len: int = 0,
    addresses: dict[str, object] | None = None,
) -> dict[str, object]:
    """ADD for macvlan, ipvlan and vlan: a link on a master interface, created in the
    container. The master is a node interface, or with `in_container` (`linkInContainer`)
    one that already lives in the container's namespace; without a name, the interface of
    that namespace's IPv4 default route."""
    if mtu < 0:
        raise InvalidNetworkConfig(f"{kind}: invalid mtu {mtu}")
    pod = open_free_pod(args)
    home = pod if in_container else Netlink()
    where = " in the container" if in_container else ""
    master = master or default_route_interface(home, kind)
    parent = home.link(master)
    if parent is None:
        raise InvalidNetworkConfig(f"{kind}: failed to find master {master!r}{where}")
    if mtu and mtu > parent.mtu:
        raise InvalidNetworkConfig(f"{kind}: mtu {mtu} is larger than master {master}'s {parent.mtu}")
    home.add_lower(
        kind,
        args.ifname,
        master,
        mode=mode,
        vlan_id=vlan_id,
        netns=None if in_container else args.netns,
        mtu=mtu,
        mac=mac,
        bc_queue_len=bc_queue_len,
    )
    return finish_add(pod, args, sysctls, addresses=addresses)
