# SPDX-License-Identifier: Apache-2.0
"""portmap, bridge ipMasq and the firewall plugin with real traffic, on both backends:
podman's default network (bridge with ipMasq and hairpin, host-local, portmap, firewall) in
a throwaway node namespace with an "outside host" wired to it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.traffic import peer_seen, server, wait_for, wire_outside
from tests.support.world import World, ok

pytestmark = pytest.mark.netns
NODE = "192.168.200.1"
OUTSIDE = "192.168.200.2"
GATEWAY = "10.88.0.1"
MAPPINGS = [
    {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
    {"hostPort": 5353, "containerPort": 53, "protocol": "udp"},
]


def conflist(tmp: Path, backend: str | None) -> dict[str, Any]:
    chosen = {"backend": backend} if backend else {}
    return {
        "cniVersion": "1.0.0",
        "name": f"pm{uuid.uuid4().hex[:8]}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                **({"ipMasqBackend": backend} if backend else {}),
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.88.0.0/16", "gateway": GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "@IPAM@",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, **chosen, "dataDir": str(tmp / "pm")},
            {"type": "firewall", **chosen, "dataDir": str(tmp / "fw")},
        ],
    }


def ruleset(node: str) -> str:
    """Everything netfilter holds in the node: iptables (both families) and nftables."""
    out = []
    for argv in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"]):
        done = subprocess.run(["ip", "netns", "exec", node, *argv], capture_output=True, text=True, check=False)
        out.append(done.stdout)
    return "\n".join(out)


def mentions(rules: str, cid: str, network: str = "") -> bool:
    """Whether a rule names the container: an iptables comment (`id: \\"cid\\"`), or the
    comment of one of our nftables elements (the attachment's id, on `network`, eth0)."""
    if f'id: \\"{cid}\\"' in rules or f'id: "{cid}"' in rules:
        return True
    element_id = hashlib.sha512(f"{network}\n{cid}\neth0".encode()).hexdigest()[:24]
    return bool(network) and f'comment "{element_id}"' in rules


def pod_ip(result: dict[str, Any]) -> str:
    return str(result["ips"][0]["address"]).split("/")[0]


@pytest.fixture
def network(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, request: pytest.FixtureRequest) -> World:
    world = World("pm", tmp_path, make_netns, conflist(tmp_path, request.param), our_bin, pods=2)
    world.outside = make_netns("pmout")  # type: ignore[attr-defined]
    wire_outside(world.node, world.outside)  # type: ignore[attr-defined]
    return world


@pytest.mark.parametrize("network", ["iptables", "nftables"], indirect=True)
def test_default_network_traffic(network: World) -> None:
    world = network
    outside: str = world.outside  # type: ignore[attr-defined]
    first = ok(world.cni("add", 0, "a", cap_args={"portMappings": MAPPINGS}))
    second = ok(world.cni("add", 1, "b"))
    a, b = pod_ip(first), pod_ip(second)
    assert mentions(ruleset(world.node), "a", world.network)
    assert mentions(ruleset(world.node), "b", world.network)
    with server(world.pods[0], 80), server(world.pods[0], 53, "udp"), server(outside, 9000):
        # From the outside host: DNATed, and the pod sees the real client.
        assert wait_for(outside, NODE, 8080) == OUTSIDE
        assert peer_seen(outside, NODE, 5353, "udp") == OUTSIDE
        # From the node itself, to its own address and to localhost (route_localnet, SNAT).
        assert peer_seen(world.node, NODE, 8080) in (NODE, GATEWAY)
        assert peer_seen(world.node, "127.0.0.1", 8080) == GATEWAY
        # Hairpin: the pod to its own mapped port, and another pod to it, masqueraded.
        assert peer_seen(world.pods[0], NODE, 8080) == GATEWAY
        assert peer_seen(world.pods[1], NODE, 8080) == GATEWAY
        # Pods reach the outside host with the node's address (ipMasq).
        assert peer_seen(world.pods[1], OUTSIDE, 9000) == NODE
        ok_check = world.cni("check", 0, "a", cap_args={"portMappings": MAPPINGS})
        assert ok_check.returncode == 0, ok_check.stdout.decode()
        assert world.cni("del", 0, "a", cap_args={"portMappings": MAPPINGS}).returncode == 0
        assert peer_seen(outside, NODE, 8080) == ""
    rules = ruleset(world.node)
    assert not mentions(rules, "a", world.network)
    assert a not in rules  # no element, chain or rule names the deleted pod
    assert b in rules  # the other pod's masquerade and firewall rules stay
    assert world.cni("del", 1, "b").returncode == 0
    rules = ruleset(world.node)
    assert b not in rules
    assert not mentions(rules, "b", world.network)
    for directory in ("pm", "fw"):
        assert not list((world.root.parent / directory).rglob("*.json"))


def stable(rules: str) -> str:
    """A ruleset without iptables-save's timestamp comments and without packet counters."""
    rules = re.sub(r"counter packets \d+ bytes \d+", "counter", rules)
    rules = re.sub(r"\[\d+:\d+\]", "", rules)
    return "\n".join(line for line in rules.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_bad_mappings_change_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str
) -> None:
    """Each bad value gets code 7 naming it; the failed ADD and the runtime's DEL after it
    leave the ruleset (with another pod's mappings in it) as it was, byte for byte."""
    world = World("pmbad", tmp_path, make_netns, conflist(tmp_path, backend), our_bin, pods=2)
    ok(world.cni("add", 0, "good", cap_args={"portMappings": MAPPINGS}))
    before = stable(ruleset(world.node))
    everything = world.snapshot(infra={"cni0"})
    bad = [
        ({"hostPort": 0, "containerPort": 80}, "hostPort"),
        ({"hostPort": 70000, "containerPort": 80}, "hostPort"),
        ({"hostPort": 80, "containerPort": -1}, "containerPort"),
        ({"hostPort": 80, "containerPort": 80, "protocol": "icmp"}, "protocol"),
        ({"hostPort": 80, "containerPort": 80, "hostIP": "abcd"}, "hostIP"),
        ({"hostPort": 80, "containerPort": 80, "hostIP": "fd00::1"}, "hostIP"),
    ]
    for mapping, key in bad:
        out = world.cni("add", 1, "x", cap_args={"portMappings": [mapping]})
        error = json.loads(out.stdout)
        assert out.returncode != 0
        assert error["code"] == 7, error
        assert key in error["msg"], error
        # The runtime's DEL after the failed ADD succeeds: portmap has nothing to undo (the
        # bad mapping was never applied) and the bridge's interface and address go.
        assert world.cni("del", 1, "x", cap_args={"portMappings": [mapping]}).returncode == 0
        assert stable(ruleset(world.node)) == before, mapping
        assert world.snapshot(infra={"cni0"}) == everything, mapping  # links, addresses, store, cache
    for n, chain in enumerate(({"markMasqBit": 32}, {"markMasqBit": 3, "externalSetMarkChain": "X"})):
        conf = conflist(tmp_path, backend)
        conf["plugins"][1].update(chain)
        bad_world = World(f"pmbadc{n}", tmp_path, make_netns, conf, our_bin)
        out = bad_world.cni("add", 0, "y", cap_args={"portMappings": MAPPINGS})
        assert json.loads(out.stdout)["code"] == 7


@pytest.mark.parametrize("network", ["iptables", "nftables"], indirect=True)
def test_check_gc_and_a_gone_netns(network: World) -> None:
    """CHECK fails once a rule is removed by hand; GC with a valid list removes exactly the
    lost attachment's rules; DEL with the netns gone (F4) removes everything."""
    world = network
    backend = json.loads(world.conf_file.read_text())["plugins"][1]["backend"]
    caps = {"portMappings": MAPPINGS}
    ok(world.cni("add", 0, "keep", cap_args=caps))
    ok(world.cni("add", 1, "lost", cap_args={"portMappings": [{"hostPort": 8090, "containerPort": 80}]}))
    assert world.cni("check", 0, "keep", cap_args=caps).returncode == 0
    # A hand-made change: the attachment's port element (nft) or jump rule (iptables) goes.
    if backend == "nftables":
        nft_rules = subprocess.run(
            ["ip", "netns", "exec", world.node, "nft", "list", "map", "ip", "cni_portmap", "any_dnat"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "tcp . 8080" in nft_rules
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                world.node,
                "nft",
                "delete",
                "element",
                "ip",
                "cni_portmap",
                "any_dnat",
                "{ tcp . 8080 }",
            ],
            check=True,
        )
    else:
        saved = subprocess.run(
            ["ip", "netns", "exec", world.node, "iptables-save", "-t", "nat"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        jump = next(
            line for line in saved.splitlines() if line.startswith("-A CNI-HOSTPORT-DNAT") and mentions(line, "keep")
        )
        script = f"*nat\n-D {jump.removeprefix('-A ')}\nCOMMIT\n"
        restore = ["ip", "netns", "exec", world.node, "iptables-restore", "--noflush"]
        subprocess.run(restore, input=script.encode(), check=True)
    failed = world.cni("check", 0, "keep", cap_args=caps)
    assert failed.returncode != 0
    assert "8080" in json.loads(failed.stdout)["msg"]
    # GC: the runtime lost "lost" (no DEL ever comes); "keep" is still valid.
    gc = world.cni("gc", 0, "", "--valid", "keep/eth0")
    assert gc.returncode == 0, gc.stdout.decode()
    rules = ruleset(world.node)
    assert not mentions(rules, "lost", world.network)
    assert "8090" not in rules
    assert mentions(rules, "keep", world.network)
    # F4: the pod's netns is gone before DEL; everything of the attachment still goes.
    subprocess.run(["ip", "netns", "del", world.pods[0]], check=True)
    assert world.cni("del", 0, "keep", cap_args=caps).returncode == 0
    rules = ruleset(world.node)
    assert not mentions(rules, "keep", world.network)
    assert "10.88." not in rules.replace("10.88.0.0/16", "")


@pytest.mark.parametrize("network", ["iptables", "nftables"], indirect=True)
def test_newest_attachment_takes_a_contested_port(network: World) -> None:
    """Two pods claim host port 8080: the newer ADD gets the traffic and keeps it when the
    older goes; the older never gets it back (it may be a leaked pod), and deleting the
    newer closes the port."""
    world = network
    outside: str = world.outside  # type: ignore[attr-defined]
    caps = {"portMappings": MAPPINGS[:1]}
    ok(world.cni("add", 0, "old", cap_args=caps))
    with server(world.pods[0], 80, tag="old:"), server(world.pods[1], 80, tag="new:"):
        assert wait_for(outside, NODE, 8080).startswith("old:")
        ok(world.cni("add", 1, "new", cap_args=caps))
        assert peer_seen(outside, NODE, 8080).startswith("new:")
        assert world.cni("del", 0, "old", cap_args=caps).returncode == 0
        assert peer_seen(outside, NODE, 8080).startswith("new:")
        ok(world.cni("add", 0, "old", cap_args=caps))
        assert peer_seen(outside, NODE, 8080).startswith("old:")
        assert world.cni("check", 1, "new", cap_args=caps).returncode != 0  # it lost the port
        assert world.cni("del", 0, "old", cap_args=caps).returncode == 0
        assert peer_seen(outside, NODE, 8080) == ""
        assert world.cni("del", 1, "new", cap_args=caps).returncode == 0


@pytest.mark.parametrize("network", ["iptables", "nftables"], indirect=True)
def test_s9_only_local_traffic_and_after_kube_services(network: World) -> None:
    """A mapping with a hostIP that is not the node's does not catch traffic the node
    forwards to that address (GHSA-jv3w-x3r3-g6rm), and on iptables our jumps come after an
    existing KUBE-SERVICES jump (CVE-2019-9946)."""
    world = network
    outside: str = world.outside  # type: ignore[attr-defined]
    beyond = world.pods[1]  # a host behind the node holding 203.0.113.53
    node_in = ["ip", "netns", "exec", world.node]
    for argv in (
        ["ip", "link", "add", "beyond0", "netns", world.node, "type", "veth", "peer", "name", "eth0", "netns", beyond],
        ["ip", "-n", world.node, "addr", "add", "203.0.113.1/24", "dev", "beyond0"],
        ["ip", "-n", world.node, "link", "set", "beyond0", "up"],
        ["ip", "-n", beyond, "addr", "add", "203.0.113.53/24", "dev", "eth0"],
        ["ip", "-n", beyond, "link", "set", "eth0", "up"],
        ["ip", "-n", beyond, "route", "add", "default", "via", "203.0.113.1"],
        [*node_in, "iptables", "-t", "nat", "-N", "KUBE-SERVICES"],
        [*node_in, "iptables", "-t", "nat", "-A", "PREROUTING", "-j", "KUBE-SERVICES"],
        [*node_in, "iptables", "-t", "nat", "-A", "OUTPUT", "-j", "KUBE-SERVICES"],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    caps = {"portMappings": [{"hostPort": 8053, "containerPort": 80, "hostIP": "203.0.113.53"}, MAPPINGS[0]]}
    ok(world.cni("add", 0, "s9", cap_args=caps))
    with server(world.pods[0], 80, tag="pod:"), server(beyond, 8053, tag="beyond:"):
        assert wait_for(outside, "203.0.113.53", 8053) == f"beyond:{OUTSIDE}"
        assert wait_for(outside, NODE, 8080) == f"pod:{OUTSIDE}"
    saved = subprocess.run([*node_in, "iptables-save", "-t", "nat"], capture_output=True, text=True, check=True)
    for entry in ("PREROUTING", "OUTPUT"):
        jumps = [line.split()[-1] for line in saved.stdout.splitlines() if line.startswith(f"-A {entry} ")]
        if "CNI-HOSTPORT-DNAT" in jumps:
            assert jumps.index("KUBE-SERVICES") < jumps.index("CNI-HOSTPORT-DNAT")
    assert world.cni("del", 0, "s9", cap_args=caps).returncode == 0


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_ipv6_mapping_hairpin_and_masquerade(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str
) -> None:
    """IPv6 beside IPv4: a mapped port from the outside host, hairpin masqueraded, and the
    pod's outbound traffic leaving with the node's IPv6 address."""
    conf = conflist(tmp_path, backend)
    conf["plugins"][0]["ipam"]["ranges"].append([{"subnet": "fd00:88::/64", "gateway": "fd00:88::1"}])
    conf["plugins"][0]["ipam"]["routes"].append({"dst": "::/0"})
    world = World("pm6", tmp_path, make_netns, conf, our_bin, pods=1)
    outside = make_netns("pm6out")
    wire_outside(world.node, outside)
    for ns, addr in ((world.node, "fd00:200::1/64"), (outside, "fd00:200::2/64")):
        dev = "uplink0" if ns == world.node else "eth0"
        subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad"], check=True)
    subprocess.run(["ip", "-n", outside, "-6", "route", "add", "default", "via", "fd00:200::1"], check=True)
    result = ok(world.cni("add", 0, "six", cap_args={"portMappings": MAPPINGS}))
    assert any(":" in ip["address"] for ip in result["ips"])
    with server(world.pods[0], 80, v6=True), server(outside, 9000, v6=True):
        assert wait_for(outside, "fd00:200::1", 8080, tries=15) == "fd00:200::2"
        assert wait_for(outside, NODE, 8080) == f"::ffff:{OUTSIDE}"
        assert peer_seen(world.pods[0], "fd00:200::1", 8080) == "fd00:88::1"
        assert peer_seen(world.pods[0], "fd00:200::2", 9000) == "fd00:200::1"
    assert world.cni("del", 0, "six", cap_args={"portMappings": MAPPINGS}).returncode == 0
    rules = ruleset(world.node)
    assert "fd00:88::2" not in rules
    assert not mentions(rules, "six", world.network)


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_stale_udp_conntrack_is_flushed(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str
) -> None:
    """A UDP flow to the host port that conntrack knows from before the mapping would keep
    going where it went (nowhere); ADD removes its entry, so the same flow reaches the pod."""
    world = World("pmct", tmp_path, make_netns, conflist(tmp_path, backend), our_bin)
    outside = make_netns("pmctout")
    wire_outside(world.node, outside)
    assert peer_seen(outside, NODE, 5353, "udp", sport=40000) == ""  # nothing listens yet
    ok(world.cni("add", 0, "ct", cap_args={"portMappings": MAPPINGS}))
    with server(world.pods[0], 53, "udp"):
        assert peer_seen(outside, NODE, 5353, "udp", sport=40000) == OUTSIDE
    assert world.cni("del", 0, "ct", cap_args={"portMappings": MAPPINGS}).returncode == 0
