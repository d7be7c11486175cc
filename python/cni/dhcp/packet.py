# SPDX-License-Identifier: Apache-2.0
"""DHCPv4 messages (RFC 2131, options RFC 2132 and RFC 3442): built and parsed here, with
the struct module; nothing is sent."""

from __future__ import annotations

import socket
import struct

BOOTREQUEST, BOOTREPLY = 1, 2
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE = 1, 2, 3, 4, 5, 6, 7
MAGIC = b"\x63\x82\x53\x63"
BROADCAST_FLAG = 0x8000
# The fixed part: op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr,
# chaddr (16), sname (64), file (128).
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")

SUBNET_MASK, ROUTER, DNS, HOST_NAME, DOMAIN_NAME = 1, 3, 6, 12, 15
STATIC_ROUTES, REQUESTED_IP, LEASE_TIME, MESSAGE_TYPE, SERVER_ID = 33, 50, 51, 53, 54
PARAMETERS, RENEWAL_T1, REBINDING_T2, CLIENT_ID, CLASSLESS_ROUTES = 55, 58, 59, 61, 121
END, PAD = 255, 0

# The option names the reference accepts besides numbers.
OPTION_NAMES = {
    "dhcp-client-identifier": CLIENT_ID,
    "subnet-mask": SUBNET_MASK,
    "routers": ROUTER,
    "host-name": HOST_NAME,
    "user-class": 77,
    "vendor-class-identifier": 60,
}


def option_code(name: str) -> int | None:
    """The code of an option given by name or number (1 to 254), or None."""
    if name in OPTION_NAMES:
        return OPTION_NAMES[name]
    if name.isdigit() and 0 < int(name) < END:
        return int(name)
    return None


def client_id(container_id: str, network: str, ifname: str) -> bytes:
    """Option 61 as the reference builds it: type 0, then `<id>/<network>/<ifname>` cut to
    254 characters."""
    return b"\x00" + f"{container_id}/{network}/{ifname}"[:254].encode()


def build(
    kind: int,
    xid: int,
    mac: bytes,
    options: list[tuple[int, bytes]],
    *,
    ciaddr: str = "0.0.0.0",
    broadcast: bool = True,
) -> bytes:
    """A client message of type `kind` (DISCOVER, REQUEST, RELEASE ...)."""
    header = _HEADER.pack(
        BOOTREQUEST,
        1,
        len(mac),
        0,
        xid,
        0,
        BROADCAST_FLAG if broadcast else 0,
        socket.inet_aton(ciaddr),
        bytes(4),
        bytes(4),
        bytes(4),
        mac.ljust(16, b"\0"),
        bytes(64),
        bytes(128),
    )
    body = bytearray(MAGIC)
    body += bytes((MESSAGE_TYPE, 1, kind))
    for code, value in options:
        # An option longer than 255 bytes is split into several of the same code (RFC 3396).
        for start in range(0, max(len(value), 1), 255):
            chunk = value[start : start + 255]
            body += bytes((code, len(chunk))) + chunk
    body.append(END)
    message = header + bytes(body)
    return message.ljust(300, b"\0")  # BOOTP's minimum, which some servers insist on


class Reply:
    """A server's message: its type, the address offered, the options (concatenated per
    code, RFC 3396)."""

    __slots__ = ("kind", "options", "xid", "yiaddr")

    def __init__(self, kind: int, xid: int, yiaddr: str, options: dict[int, bytes]) -> None:
        self.kind = kind
        self.xid = xid
        self.yiaddr = yiaddr
        self.options = options

    def address(self, code: int) -> str | None:
        value = self.options.get(code)
        return socket.inet_ntoa(value[:4]) if value is not None and len(value) >= 4 else None

    def addresses(self, code: int) -> list[str]:
        value = self.options.get(code, b"")
        return [socket.inet_ntoa(value[i : i + 4]) for i in range(0, len(value) - 3, 4)]

    def seconds(self, code: int) -> int | None:
        value = self.options.get(code)
        return struct.unpack("!I", value[:4])[0] if value is not None and len(value) >= 4 else None

    def prefix(self) -> int | None:
        """The prefix length of the subnet mask (option 1), None without one."""
        mask = self.options.get(SUBNET_MASK)
        if mask is None or len(mask) < 4:
            return None
        return bin(struct.unpack("!I", mask[:4])[0]).count("1")

    def routes(self) -> list[dict[str, object]]:
        """The routes the reply gives: classless routes (option 121) alone when present
        (RFC 3442), else static routes (option 33) and a default route via the router."""
        classless = self.options.get(CLASSLESS_ROUTES)
        if classless:
            return _classless(classless)
        routes: list[dict[str, object]] = []
        static = self.options.get(STATIC_ROUTES, b"")
        for i in range(0, len(static) - 7, 8):
            destination, gateway = socket.inet_ntoa(static[i : i + 4]), socket.inet_ntoa(static[i + 4 : i + 8])
            routes.append({"dst": f"{destination}/32", "gw": gateway})
        router = self.address(ROUTER)
        if router is not None:
            routes.append({"dst": "0.0.0.0/0", "gw": router})
        return routes


def _classless(value: bytes) -> list[dict[str, object]]:
    routes: list[dict[str, object]] = []
    at = 0
    while at < len(value):
        width = value[at]
        significant = (width + 7) // 8
        if width > 32 or at + 1 + significant + 4 > len(value):
            break  # malformed: what came before is kept
        network = value[at + 1 : at + 1 + significant].ljust(4, b"\0")
        gateway = socket.inet_ntoa(value[at + 1 + significant : at + 5 + significant])
        at += 5 + significant
        route: dict[str, object] = {"dst": f"{socket.inet_ntoa(network)}/{width}"}
        if gateway == "0.0.0.0":
            route["scope"] = 253  # on the link (the reference's, since v1.8.0)
        else:
            route["gw"] = gateway
        routes.append(route)
    return routes


def parse(data: bytes, xid: int, mac: bytes) -> Reply | None:
    """The reply in `data` when it answers our transaction `xid` for `mac`, else None."""
    if len(data) < _HEADER.size + 4:
        return None
    fields = _HEADER.unpack_from(data)
    op, _, hlen, _, got_xid, _, _, _, yiaddr, _, _, chaddr = fields[:12]
    if op != BOOTREPLY or got_xid != xid or chaddr[:hlen] != mac or data[_HEADER.size : _HEADER.size + 4] != MAGIC:
        return None
    options: dict[int, bytes] = {}
    at = _HEADER.size + 4
    while at < len(data):
        code = data[at]
        if code == END:
            break
        if code == PAD:
            at += 1
            continue
        if at + 1 >= len(data):
            break
        length = data[at + 1]
        options[code] = options.get(code, b"") + data[at + 2 : at + 2 + length]
        at += 2 + length
    kind = options.get(MESSAGE_TYPE, b"\0")[0]
    return Reply(kind, got_xid, socket.inet_ntoa(yiaddr), options)
