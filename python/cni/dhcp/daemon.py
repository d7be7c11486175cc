# SPDX-License-Identifier: Apache-2.0
"""`cni dhcp daemon`: acquires leases for the dhcp plugin inside pods' namespaces, renews
them at T1 and rebinds at T2, releases them on DEL.

Every lease is kept on disk (`--state-dir`, one JSON file each, replaced atomically), so a
restarted daemon goes on renewing the leases it held (the reference keeps them in memory:
upstream #235, #767). A DEL the plugin could not hand over (the daemon was down) waits as a
file in `<socket>.pending/`; the daemon releases those leases when it starts. The socket is
a path, 0600, one daemon per path (a lock beside it: a stale socket of a killed daemon is
replaced); under systemd socket activation, systemd's socket is served.

Protocol: one JSON request per connection (`method`: allocate, release, gc or status, and the
invocation's containerID, netns, ifname, args, and the config), one JSON answer
(`result` or `error` with a CNI code and message).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from cni import _posix
from cni.dhcp import DEFAULT_SOCKET, DEFAULT_STATE_DIR, client, packet, pending_dir
from cni.errors import CNIError, InvalidNetworkConfig

log = logging.getLogger("cni.dhcp")
MAX_REQUEST = 1 << 20
#: How long one acquisition, renewal or rebinding waits for the server.
DEFAULT_TIMEOUT = 10.0


def lease_key(container_id: str, network: str, ifname: str) -> str:
    return hashlib.sha256(packet.client_id(container_id, network, ifname)).hexdigest()[:32]


def provided_options(ipam: dict[str, Any], cni_args: str) -> list[tuple[int, bytes]]:
    """The `provide` options (values, or CNI_ARGS values by `fromArg`) and the request list
    (`request`, plus routers and subnet mask unless one says `skipDefault`)."""
    given = dict(pair.split("=", 1) for pair in cni_args.split(";") if "=" in pair)
    options: list[tuple[int, bytes]] = []
    for entry in ipam.get("provide") or []:
        code = packet.option_code(str(entry.get("option", "")))
        if code is None:
            raise InvalidNetworkConfig(f"dhcp: cannot parse option {entry.get('option')!r}")
        for value in (entry.get("value") or "", given.get(str(entry.get("fromArg") or ""), "")):
            if value:
                if len(value) > 255:
                    raise InvalidNetworkConfig(f"dhcp: value too long for option {entry.get('option')!r}")
                options.append((code, value.encode()))
    requested: list[int] = []
    skip_default = False
    for entry in ipam.get("request") or []:
        skip_default |= entry.get("skipDefault") is True
        if entry.get("option"):
            code = packet.option_code(str(entry["option"]))
            if code is None:
                raise InvalidNetworkConfig(f"dhcp: cannot parse option {entry['option']!r}")
            requested.append(code)
    if not skip_default:
        requested += [packet.ROUTER, packet.SUBNET_MASK]
    if requested:
        options.append((packet.PARAMETERS, bytes(dict.fromkeys(requested))))
    return options


class Lease:
    """One lease, maintained by its own thread until released, expired or orphaned."""

    def __init__(self, daemon: Daemon, record: dict[str, Any]) -> None:
        self.daemon = daemon
        self.record = record
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def offer(self) -> client.Offer:
        return client.Offer.from_dict(self.record["offer"])

    def args(self) -> tuple[bytes, bytes, list[tuple[int, bytes]]]:
        r = self.record
        extra = [(int(code), bytes.fromhex(value)) for code, value in r["options"]]
        return bytes.fromhex(r["mac"]), bytes.fromhex(r["clientID"]), extra

    def result(self) -> dict[str, Any]:
        offer = self.offer
        priority = self.record.get("priority")
        routes = [dict(route) for route in offer.routes]
        if isinstance(priority, int) and priority:
            for route in routes:
                route["priority"] = priority
        ip: dict[str, Any] = {"address": f"{offer.address}/{offer.prefix}"}
        if offer.router:
            ip["gateway"] = offer.router
        result: dict[str, Any] = {"cniVersion": "1.1.0", "ips": [ip], "routes": routes}
        if offer.dns:
            result["dns"] = {"nameservers": offer.dns}
        return result

    def start(self) -> None:
        self.thread = threading.Thread(target=self._maintain, name=f"lease-{self.record['key']}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=self.daemon.timeout * 2)

    def _pod_gone(self) -> bool:
        try:
            client.link_mac(self.record["netns"], self.record["ifname"])
        except (CNIError, OSError):
            return True
        return False

    def _maintain(self) -> None:
        while not self.stopped.is_set():
            offer, obtained = self.offer, float(self.record["obtained"])
            now = time.time()
            renew_at, rebind_at, expires = obtained + offer.renew, obtained + offer.rebind, obtained + offer.lease
            wake = (
                renew_at
                if now < renew_at
                else min(now + self.daemon.timeout, rebind_at if now < rebind_at else expires)
            )
            if self.stopped.wait(max(0.0, wake - time.time())):
                return
            if self._pod_gone():
                log.info("%s: the interface is gone; the lease is no longer kept", self.record["key"])
                self.daemon.forget(self)
                return
            if time.time() >= expires:
                log.warning("%s: the lease of %s expired", self.record["key"], offer.address)
                self.daemon.forget(self)
                return
            stage = "renewing" if time.time() < rebind_at else "rebinding"
            try:
                mac, cid, extra = self.args()
                with client.open_socket(self.record["netns"], self.record["ifname"]) as sock:
                    # RENEWING asks the server that gave the lease; REBINDING asks them all.
                    server = offer.server if stage == "renewing" else None
                    fresh = client.extend(sock, mac, cid, extra, offer, self.daemon.timeout, server)
            except (CNIError, OSError) as err:
                log.warning("%s: %s failed: %s", self.record["key"], stage, err)
                continue
            if fresh is None or fresh.address != offer.address:
                log.warning("%s: %s %s: no ACK", self.record["key"], stage, offer.address)
                continue
            self.record["offer"] = fresh.to_dict()
            self.record["obtained"] = time.time()
            self.daemon.save(self)
            log.info("%s: %s: lease of %s extended by %d s", self.record["key"], stage, fresh.address, fresh.lease)


class Daemon:
    def __init__(self, state_dir: str, socket_path: str, timeout: float) -> None:
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.timeout = timeout
        self.leases: dict[str, Lease] = {}
        self.lock = threading.Lock()

    # --- the leases on disk ------------------------------------------------------------------

    def save(self, lease: Lease) -> None:
        from cni._native import dumps

        _posix.makedirs(self.state_dir, 0o700)
        _posix.replace_file(self.state_dir, f"{lease.record['key']}.json", dumps(lease.record).encode())

    def forget(self, lease: Lease) -> None:
        with self.lock:
            if self.leases.get(lease.record["key"]) is lease:
                del self.leases[lease.record["key"]]
        _posix.remove_file(self.state_dir, f"{lease.record['key']}.json")

    def load(self) -> None:
        """The leases a previous daemon held: maintained again."""
        try:
            names = os.listdir(self.state_dir)
        except FileNotFoundError:
            return
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                with open(os.path.join(self.state_dir, name)) as f:
                    record = json.load(f)
                lease = Lease(self, record)
                lease.offer  # noqa: B018 - a record that does not parse is dropped here
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("dropping unreadable lease record %s", name)
                _posix.remove_file(self.state_dir, name)
                continue
            self.leases[record["key"]] = lease
            lease.start()
            log.info("%s: kept the lease of %s from before", record["key"], record["offer"]["address"])

    def release_pending(self) -> None:
        directory = pending_dir(self.socket_path)  # what DELs left while no daemon ran
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return
        for name in names:
            try:
                with open(os.path.join(directory, name)) as f:
                    self.release(json.load(f))
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("dropping unreadable pending release %s: %s", name, err)
            _posix.remove_file(directory, name)

    # --- requests ---------------------------------------------------------------------------

    def allocate(self, request: dict[str, Any]) -> dict[str, Any]:
        conf = request["conf"]
        ipam = conf.get("ipam") or {}
        key = lease_key(request["containerID"], conf["name"], request["ifname"])
        with self.lock:
            held = self.leases.get(key)
        if held is not None and held.record["netns"] == request["netns"]:
            return held.result()  # an ADD again, or a CHECK: the lease it has
        extra = provided_options(ipam, request.get("args", ""))
        cid = packet.client_id(request["containerID"], conf["name"], request["ifname"])
        mac = client.link_mac(request["netns"], request["ifname"])
        client.bring_up(request["netns"], request["ifname"])
        with client.open_socket(request["netns"], request["ifname"]) as sock:
            offer = client.acquire(sock, mac, cid, extra, self.timeout)
        record = {
            "key": key,
            "containerID": request["containerID"],
            "network": conf["name"],
            "ifname": request["ifname"],
            "netns": request["netns"],
            "mac": mac.hex(),
            "clientID": cid.hex(),
            "options": [[code, value.hex()] for code, value in extra],
            "priority": ipam.get("priority"),
            "offer": offer.to_dict(),
            "obtained": time.time(),
        }
        lease = Lease(self, record)
        self.save(lease)
        with self.lock:
            self.leases[key] = lease
        lease.start()
        log.info("%s: leased %s/%d from %s for %d s", key, offer.address, offer.prefix, offer.server, offer.lease)
        return lease.result()

    def _release(self, lease: Lease) -> None:
        lease.stop()
        try:
            mac, cid, _ = lease.args()
            with client.open_socket(lease.record["netns"], lease.record["ifname"]) as sock:
                client.release(sock, mac, cid, lease.offer)
            log.info("%s: released %s", lease.record["key"], lease.offer.address)
        except (CNIError, OSError) as err:
            log.warning("%s: DHCPRELEASE not sent (%s); the lease ends when it expires", lease.record["key"], err)
        self.forget(lease)

    def release(self, request: dict[str, Any]) -> dict[str, Any]:
        key = lease_key(request["containerID"], request["conf"]["name"], request["ifname"])
        with self.lock:
            lease = self.leases.get(key)
        if lease is not None:
            self._release(lease)
        return {}

    def collect(self, request: dict[str, Any]) -> dict[str, Any]:
        """GC: the leases of the network's attachments that are not in the valid list go."""
        network = request["conf"]["name"]
        valid = {(str(a.get("containerID")), str(a.get("ifname"))) for a in request.get("valid") or []}
        with self.lock:
            lost = [
                lease
                for lease in self.leases.values()
                if lease.record["network"] == network
                and (lease.record["containerID"], lease.record["ifname"]) not in valid
            ]
        for lease in lost:
            self._release(lease)
        return {}

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(self.timeout * 3)
            try:
                data = b""
                while len(data) <= MAX_REQUEST and (chunk := conn.recv(65536)):
                    data += chunk
                    if data.startswith(b"CONNECT ") and b"\n\n" in data.replace(b"\r\n", b"\n"):
                        break  # Go's net/rpc handshake: it waits for our answer
                if data.startswith(b"CONNECT "):
                    # Go's net/rpc: a reference dhcp plugin. Its protocol is not ours.
                    conn.sendall(b"HTTP/1.0 501 this is the cni package's dhcp daemon (JSON, not Go net/rpc)\r\n\r\n")
                    return
                answer = self.dispatch(json.loads(data))
            except (OSError, ValueError) as err:
                answer = {"error": {"code": 5, "msg": f"dhcp daemon: bad request: {err}"}}
            try:
                conn.sendall(json.dumps(answer).encode())
            except OSError:
                pass

    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request.get("method")
        if method not in ("status", "allocate", "release", "gc"):
            return {"error": {"code": 4, "msg": f"dhcp daemon: unknown method {method!r}"}}
        try:
            if method == "status":
                return {"result": {}}
            self.release_pending()
            if method == "allocate":
                return {"result": self.allocate(request)}
            if method == "gc":
                return {"result": self.collect(request)}
            return {"result": self.release(request)}
        except CNIError as err:
            return {"error": err.to_dict()}
        except (OSError, KeyError, TypeError) as err:
            return {"error": {"code": 999, "msg": f"dhcp daemon: {type(err).__name__}: {err}"}}


def serve(
    socket_path: str = DEFAULT_SOCKET, state_dir: str = DEFAULT_STATE_DIR, timeout: float = DEFAULT_TIMEOUT
) -> int:
    """Runs the daemon in the foreground until SIGTERM or SIGINT."""
    import signal
    import sys

    from cni.agent.listener import ListenerError, activated, bind

    logging.basicConfig(level=logging.INFO, format="%(asctime)s cni-dhcp %(message)s", stream=sys.stderr)
    daemon = Daemon(state_dir, socket_path, timeout)
    try:
        inherited = activated()
        listener = None if inherited is not None else bind(socket_path, private_dir=False)
    except ListenerError as err:
        print(f"cni dhcp daemon: {err}", file=sys.stderr)
        return 1
    sock = inherited if inherited is not None else listener.sock  # type: ignore[union-attr]
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()
        sock.close()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.load()
    daemon.release_pending()
    log.info("serving %s, leases in %s", socket_path, state_dir)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            break
        threading.Thread(target=daemon.handle, args=(conn,), daemon=True).start()
    if listener is not None:
        listener.close()
    # The leases stay on disk: a daemon started later maintains them again.
    return 0
