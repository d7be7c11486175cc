# SPDX-License-Identifier: Apache-2.0
"""Netlink requests built by pyroute2 (an independent encoder), to compare our bytes with."""

from __future__ import annotations

import socket

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE


def pyroute2_veth_setup() -> list[bytes]:
    """The same three requests, built by pyroute2."""
    link = ifinfmsg()
    link["header"].update(type=RTM_NEWLINK, flags=FLAGS, sequence_number=1)
    peer = {"attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_MTU", 1500)]}
    link["attrs"] = [
        ("IFLA_IFNAME", "veth0a1b2c3d"),
        ("IFLA_MTU", 1500),
        (
            "IFLA_LINKINFO",
            {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]},
        ),
    ]
    addr = ifaddrmsg()
    addr["header"].update(type=RTM_NEWADDR, flags=FLAGS, sequence_number=2)
    addr.update(family=socket.AF_INET, prefixlen=24, index=7)
    addr["attrs"] = [("IFA_LOCAL", "10.1.0.5"), ("IFA_ADDRESS", "10.1.0.5"), ("IFA_BROADCAST", "10.1.0.255")]
    route = rtmsg()
    route["header"].update(type=RTM_NEWROUTE, flags=FLAGS, sequence_number=3)
    route.update(family=socket.AF_INET, table=254, proto=3, scope=0, type=1)
    route["attrs"] = [("RTA_GATEWAY", "10.1.0.1"), ("RTA_OIF", 7)]
    out = []
    for msg in (link, addr, route):
        msg.encode()
        out.append(bytes(msg.data))
    return out
