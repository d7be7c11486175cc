# SPDX-License-Identifier: Apache-2.0
"""S8 with traffic: a pod sending IPv6 Router Advertisements does not re-route the node
(CVE-2020-10749).

The pod sends real RAs (default router, prefix 2001:db8:77::/64 with autonomous
configuration) from its interface; the node's side (the bridge, or ptp's host veth) has
`accept_ra=0`, so the node gains neither a route learned from RA nor an address in that
prefix. As a control, the same RAs are sent again after the test sets `accept_ra=2` on that
side: the node then does learn the route, which shows the RAs really arrive and that the
sysctl is what protects the node.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import World, ok

pytestmark = pytest.mark.netns

# Runs inside the pod: three RAs to all-nodes, hop limit 255 as RFC 4861 requires.
SEND_RA = r"""
import ipaddress, socket, struct, time
index = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
header = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)  # router lifetime 1800 s
prefix = struct.pack(
    "!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0, ipaddress.IPv6Address("2001:db8:77::").packed
)  # on-link and autonomous
for _ in range(3):
    s.sendto(header + prefix, ("ff02::1", 0, 0, index))
    time.sleep(0.1)
"""

RTPROT_RA = 9


def conflist(kind: str) -> dict[str, Any]:
    plugin: dict[str, Any] = {"type": kind}
    if kind == "bridge":
        plugin.update(bridge="rabr0", isGateway=True)
    return {
        "cniVersion": "1.0.0",
        "name": f"ra{kind}",
        "plugins": [
            {**plugin, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.91.0.0/24"}]], "dataDir": "@IPAM@"}}
        ],
    }


def learned(node: str) -> tuple[list[str], list[str]]:
    """Routes the node learned from RAs, and its addresses in the advertised prefix."""
    from pyroute2 import NetNS

    with NetNS(node) as ns:
        routes = [str(r.get_attr("RTA_DST") or "default") for r in ns.get_routes(family=10) if r["proto"] == RTPROT_RA]
        addrs = [
            str(a.get_attr("IFA_ADDRESS"))
            for a in ns.get_addr(family=10)
            if str(a.get_attr("IFA_ADDRESS")).startswith("2001:db8:77:")
        ]
    return routes, addrs


def wait_for_link_local(pod: str) -> None:
    for _ in range(50):
        out = subprocess.run(
            ["ip", "-n", pod, "-6", "addr", "show", "dev", "eth0", "scope", "link"], capture_output=True
        )
        if b"fe80::" in out.stdout and b"tentative" not in out.stdout:
            return
        time.sleep(0.1)
    raise AssertionError("the pod's eth0 has no usable link-local address")


def send_ras(pod: str) -> None:
    subprocess.run(["ip", "netns", "exec", pod, sys.executable, "-c", SEND_RA], check=True, timeout=30)


@pytest.mark.parametrize("kind", ["bridge", "ptp"])
def test_router_advertisements_from_a_pod_do_not_reach_the_node(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, kind: str
) -> None:
    world = World(f"ra{kind[:2]}", tmp_path, make_netns, conflist(kind), our_bin)
    result = ok(world.cni("add"))
    node_side = "rabr0" if kind == "bridge" else result["interfaces"][0]["name"]
    accept_ra = f"/proc/sys/net/ipv6/conf/{node_side}/accept_ra"
    assert world.in_node(["cat", accept_ra]).stdout.strip() == b"0"
    wait_for_link_local(world.pods[0])

    send_ras(world.pods[0])
    time.sleep(1)
    assert learned(world.node) == ([], [])

    # Control: the same RAs are taken once the node side accepts them.
    subprocess.run(
        ["ip", "netns", "exec", world.node, "sysctl", "-qw", f"net.ipv6.conf.{node_side}.accept_ra=2"], check=True
    )
    for _ in range(30):
        send_ras(world.pods[0])
        routes, _ = learned(world.node)
        if routes:
            break
    assert "default" in learned(world.node)[0]
    ok(world.cni("del"))
