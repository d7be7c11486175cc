# SPDX-License-Identifier: Apache-2.0
"""One lease's DHCP exchanges, from a UDP socket made inside the pod's network namespace
and bound to the pod's interface (port 68). Requests set the broadcast flag, so a server
answers to the broadcast address the socket hears before the interface has an address;
a RELEASE goes to the server from the pod's address. Every wait is bounded."""

from __future__ import annotations

import secrets
import socket
import time

from cni.dhcp import packet
from cni.errors import CNIError

#: The first resend after 1 s (a link just brought up may drop the first), doubling up to
#: 64 s (RFC 2131 4.1), within the caller's bound.
FIRST_RESEND = 1.0
LAST_RESEND = 64.0
_SO_BINDTODEVICE = 25


class Offer:
    """What a server's ACK gave: the address, its lease, the server, the routes and DNS."""

    __slots__ = ("address", "dns", "lease", "prefix", "rebind", "renew", "router", "routes", "server")

    def __init__(self, reply: packet.Reply) -> None:
        prefix = reply.prefix()
        if prefix is None:
            raise CNIError(f"dhcp: the server's ACK for {reply.yiaddr} has no subnet mask (option 1)")
        self.address = reply.yiaddr
        self.prefix = prefix
        self.server = reply.address(packet.SERVER_ID) or ""
        self.lease = reply.seconds(packet.LEASE_TIME) or 3600
        # T1 and T2 as the server says, else half the lease and 85 % (the reference's).
        self.renew = reply.seconds(packet.RENEWAL_T1) or self.lease // 2
        self.rebind = reply.seconds(packet.REBINDING_T2) or self.lease * 85 // 100
        self.router = reply.address(packet.ROUTER)
        self.routes = reply.routes()
        self.dns = reply.addresses(packet.DNS)

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Offer:
        offer = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(offer, name, data[name])
        return offer


def open_socket(netns: str, ifname: str) -> socket.socket:
    """A UDP socket on port 68 of `ifname` in the namespace at `netns`."""
    from cni._native import socket_in_netns

    sock = socket.socket(fileno=socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, ifname.encode())
        sock.bind(("0.0.0.0", 68))
    except OSError:
        sock.close()
        raise
    return sock


def link_mac(netns: str, ifname: str) -> bytes:
    from cni._native import Netlink

    link = Netlink(netns).link(ifname)
    if link is None or not link.mac:
        raise CNIError(f"dhcp: interface {ifname} not found in {netns}")
    return bytes.fromhex(link.mac.replace(":", ""))


def bring_up(netns: str, ifname: str) -> None:
    """The interface up, as the interface plugin leaves it at the end of its ADD: an
    interface that is down sends nothing (some plugins ask IPAM before they bring it up)."""
    from cni._native import Netlink

    Netlink(netns).set_link(ifname, up=True)


def _exchange(
    sock: socket.socket,
    message: bytes,
    xid: int,
    mac: bytes,
    wanted: tuple[int, ...],
    deadline: float,
    to: str = "255.255.255.255",
) -> packet.Reply | None:
    """Sends `message` (again, backing off) until a reply of a `wanted` type for `xid`
    arrives or `deadline` passes."""
    resend = FIRST_RESEND
    while time.monotonic() < deadline:
        sock.sendto(message, (to, 67))
        until = min(deadline, time.monotonic() + resend)
        while (left := until - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                break
            reply = packet.parse(data, xid, mac)
            if reply is not None and reply.kind in wanted:
                return reply
        resend = min(resend * 2, LAST_RESEND)
    return None


def acquire(sock: socket.socket, mac: bytes, client_id: bytes, extra: list[tuple[int, bytes]], timeout: float) -> Offer:
    """DISCOVER, OFFER, REQUEST, ACK; a NAK starts over, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    base = [(packet.CLIENT_ID, client_id), *extra]
    while time.monotonic() < deadline:
        xid = secrets.randbits(32)
        offer = _exchange(sock, packet.build(packet.DISCOVER, xid, mac, base), xid, mac, (packet.OFFER,), deadline)
        if offer is None:
            break
        server = offer.address(packet.SERVER_ID)
        asked = [*base, (packet.REQUESTED_IP, socket.inet_aton(offer.yiaddr))]
        if server is not None:
            asked.append((packet.SERVER_ID, socket.inet_aton(server)))
        request = packet.build(packet.REQUEST, xid, mac, asked)
        ack = _exchange(sock, request, xid, mac, (packet.ACK, packet.NAK), deadline)
        if ack is not None and ack.kind == packet.ACK:
            return Offer(ack)
    raise CNIError(f"dhcp: no lease from a DHCP server within {timeout:.0f} s")


def extend(
    sock: socket.socket,
    mac: bytes,
    client_id: bytes,
    extra: list[tuple[int, bytes]],
    held: Offer,
    timeout: float,
    server: str | None = None,
) -> Offer | None:
    """A REQUEST for the address held: to `server` from the address (RENEWING), or to all
    (REBINDING, `server` None). The new lease, or None on a NAK or no answer."""
    xid = secrets.randbits(32)
    options = [(packet.CLIENT_ID, client_id), *extra]
    message = packet.build(packet.REQUEST, xid, mac, options, ciaddr=held.address, broadcast=server is None)
    to = server or "255.255.255.255"
    reply = _exchange(sock, message, xid, mac, (packet.ACK, packet.NAK), time.monotonic() + timeout, to)
    if reply is None or reply.kind != packet.ACK:
        return None
    return Offer(reply)


def release(sock: socket.socket, mac: bytes, client_id: bytes, held: Offer) -> None:
    """A DHCPRELEASE to the server, from the address held (no answer comes)."""
    options = [(packet.CLIENT_ID, client_id)]
    if held.server:
        options.append((packet.SERVER_ID, socket.inet_aton(held.server)))
    message = packet.build(packet.RELEASE, secrets.randbits(32), mac, options, ciaddr=held.address, broadcast=False)
    sock.sendto(message, (held.server or "255.255.255.255", 67))
