# SPDX-License-Identifier: Apache-2.0
"""DHCPv4 messages as the dhcp daemon builds and reads them (no network)."""

from __future__ import annotations

import socket
import struct

from cni.dhcp import packet

MAC = bytes.fromhex("02aabbccddee")


def server_reply(xid: int, kind: int, options: bytes) -> bytes:
    """What a server would send: BOOTREPLY for MAC, offering 10.0.0.7."""
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        2,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        bytes(4),
        socket.inet_aton("10.0.0.7"),
        bytes(4),
        bytes(4),
        MAC.ljust(16, b"\0"),
        bytes(64),
        bytes(128),
    )
    return header + packet.MAGIC + bytes((53, 1, kind)) + options + b"\xff"


def test_the_client_id_is_the_references() -> None:
    assert packet.client_id("c1", "net", "eth0") == b"\x00c1/net/eth0"
    assert len(packet.client_id("x" * 300, "net", "eth0")) == 255


def test_a_request_carries_its_type_flags_and_options() -> None:
    message = packet.build(packet.REQUEST, 0x1234, MAC, [(packet.CLIENT_ID, b"\x00id"), (12, b"h" * 300)])
    assert len(message) >= 300
    assert message[0] == 1
    assert struct.unpack("!I", message[4:8])[0] == 0x1234
    assert struct.unpack("!H", message[10:12])[0] == packet.BROADCAST_FLAG
    options = message[240:]
    assert options[:3] == bytes((53, 1, packet.REQUEST))
    # A 300-byte option goes as two of the same code (RFC 3396).
    assert options.count(bytes((12, 255))) == 1
    assert bytes((12, 45)) in options


def test_a_reply_is_read_with_its_lease_routes_and_dns() -> None:
    options = (
        bytes((1, 4))
        + socket.inet_aton("255.255.255.0")
        + bytes((3, 4))
        + socket.inet_aton("10.0.0.1")
        + bytes((6, 8))
        + socket.inet_aton("10.0.0.53")
        + socket.inet_aton("10.0.0.54")
        + bytes((51, 4))
        + struct.pack("!I", 120)
        + bytes((54, 4))
        + socket.inet_aton("10.0.0.1")
    )
    reply = packet.parse(server_reply(7, packet.ACK, options), 7, MAC)
    assert reply is not None
    assert (reply.kind, reply.yiaddr, reply.prefix()) == (packet.ACK, "10.0.0.7", 24)
    assert reply.seconds(packet.LEASE_TIME) == 120
    assert reply.addresses(packet.DNS) == ["10.0.0.53", "10.0.0.54"]
    assert reply.routes() == [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]
    # Another transaction, another client: not ours.
    assert packet.parse(server_reply(8, packet.ACK, options), 7, MAC) is None
    assert packet.parse(server_reply(7, packet.ACK, options), 7, bytes(6)) is None
    assert packet.parse(b"short", 7, MAC) is None


def test_classless_routes_replace_the_router_and_mark_on_link_ones() -> None:
    classless = bytes((24, 10, 9, 0)) + socket.inet_aton("10.0.0.1") + bytes((16, 10, 8)) + bytes(4)
    options = bytes((3, 4)) + socket.inet_aton("10.0.0.1") + bytes((121, len(classless))) + classless
    reply = packet.parse(server_reply(1, packet.ACK, options), 1, MAC)
    assert reply is not None
    assert reply.routes() == [{"dst": "10.9.0.0/24", "gw": "10.0.0.1"}, {"dst": "10.8.0.0/16", "scope": 253}]


def test_option_names_and_numbers() -> None:
    assert packet.option_code("routers") == 3
    assert packet.option_code("121") == 121
    assert packet.option_code("0") is None
    assert packet.option_code("255") is None
    assert packet.option_code("nope") is None
