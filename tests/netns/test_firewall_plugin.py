# SPDX-License-Identifier: Apache-2.0
"""The firewall plugin's own keys, GC of every firewall plugin straight from its records,
ipMasq removed whatever the config now says, and STATUS where no backend can work."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.netns.test_firewall_faults import PREV, bridge, chained
from tests.netns.test_portmap import OUTSIDE, conflist, mentions, ruleset
from tests.support.traffic import wire_outside
from tests.support.world import World, ok

pytestmark = pytest.mark.netns


def ping(netns: str, address: str) -> bool:
    argv = ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "1", address]
    return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode == 0


def run_plugin(
    our_bin: Path, node: str, kind: str, command: str, conf: dict[str, Any], cid: str = "c1", pod: str = ""
) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": f"/var/run/netns/{pod}" if pod else "",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
    }
    return subprocess.run(
        ["ip", "netns", "exec", node, str(our_bin / kind)],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_admin_chain_comes_first(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str) -> None:
    """`iptablesAdminChainName`: the operator's chain is consulted before the plugin's
    accepts (iptables; nftables: the table's `admin` chain), so a drop there holds."""
    conf = conflist(tmp_path, backend)
    if backend == "iptables":
        conf["plugins"][2]["iptablesAdminChainName"] = "MY-ADMIN"
    world = World("fwadm", tmp_path, make_netns, conf, our_bin)
    outside = make_netns("fwadmout")
    wire_outside(world.node, outside)
    pod = ok(world.cni("add", 0, "adm"))["ips"][0]["address"].split("/")[0]
    assert ping(world.pods[0], OUTSIDE)
    if backend == "iptables":
        drop = ["iptables", "-A", "MY-ADMIN", "-s", pod, "-j", "DROP"]
    else:
        drop = ["nft", "add", "rule", "ip", "cni_firewall", "admin", "ip", "saddr", pod, "drop"]
    if backend == "iptables":
        # In one chain, the plugin's accept beats the policy (an nf_tables accept is final
        # only for its own base chain, so the nftables backend cannot override another
        # table's drop).
        subprocess.run(["ip", "netns", "exec", world.node, "iptables", "-P", "FORWARD", "DROP"], check=True)
    assert ping(world.pods[0], OUTSIDE)  # the plugin's accept lets the pod out...
    subprocess.run(["ip", "netns", "exec", world.node, *drop], check=True)
    assert not ping(world.pods[0], OUTSIDE)  # ...after the admin chain, whose drop wins
    assert world.cni("del", 0, "adm").returncode == 0


def test_same_bridge_ingress_policy(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    """`ingressPolicy: same-bridge`: a pod on another bridge cannot reach this bridge's pods."""
    first = conflist(tmp_path, "iptables")
    first["plugins"][2]["ingressPolicy"] = "same-bridge"
    world = World("fwiso", tmp_path, make_netns, first, our_bin, pods=2)
    second = json.loads(json.dumps(first).replace("10.88.", "10.89.").replace('"cni0"', '"cni1"'))
    second["name"] = world.network + "b"
    (world.conf_dir / "20-second.conflist").write_text(json.dumps(second).replace("@IPAM@", str(world.ipam)))
    a = ok(world.cni("add", 0, "isoa"))["ips"][0]["address"].split("/")[0]
    network = world.network
    world.network = second["name"]
    b = ok(world.cni("add", 1, "isob"))["ips"][0]["address"].split("/")[0]
    saved = subprocess.run(
        ["ip", "netns", "exec", world.node, "iptables-save", "-t", "filter"], capture_output=True, text=True, check=True
    ).stdout
    assert "-A CNI-ISOLATION-STAGE-1 -i cni0 ! -o cni0" in saved
    assert "-A CNI-ISOLATION-STAGE-2 -o cni0" in saved
    assert not ping(world.pods[1], a)
    assert not ping(world.pods[0], b)
    assert world.cni("del", 1, "isob").returncode == 0
    world.network = network
    assert world.cni("del", 0, "isoa").returncode == 0


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_gc_from_records(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str) -> None:
    """Each plugin's own GC (as a runtime without a cache entry would ask it) removes what
    its records name for attachments not valid, and keeps the valid ones."""
    node, pod = make_netns("gcnode"), make_netns("gcpod")
    for kind in ("portmap", "firewall"):
        for cid in ("keep", "lost"):
            conf = chained(kind, backend, tmp_path)
            if cid == "keep":
                conf["prevResult"] = {**PREV, "ips": [{"address": "10.90.0.6/16", "interface": 2}]}
                if kind == "portmap":
                    conf["runtimeConfig"]["portMappings"] = [{"hostPort": 9090, "containerPort": 80}]
            assert run_plugin(our_bin, node, kind, "ADD", conf, cid, pod).returncode == 0
    masq = bridge(backend, tmp_path)
    assert run_plugin(our_bin, node, "bridge", "ADD", masq, "lost", pod).returncode == 0
    assert mentions(ruleset(node), "lost", "faultnet")
    valid = [{"containerID": "keep", "ifname": "eth0"}]
    for kind, conf in (
        ("portmap", chained("portmap", backend, tmp_path)),
        ("firewall", chained("firewall", backend, tmp_path)),
        ("bridge", masq),
    ):
        gc = {**conf, "cniVersion": "1.1.0", "cni.dev/valid-attachments": valid}
        gc.pop("prevResult", None)
        out = run_plugin(our_bin, node, kind, "GC", gc)
        assert out.returncode == 0, out.stdout
    rules = ruleset(node)
    assert not mentions(rules, "lost", "faultnet")
    assert not mentions(rules, "lost", "faultbr")
    assert mentions(rules, "keep", "faultnet")
    assert "9090" in rules


@pytest.mark.parametrize(
    ("added", "deleted"),
    [
        ({"ipMasqBackend": "nftables"}, {"ipMasq": False}),
        ({"ipMasqBackend": "iptables"}, {"ipMasqBackend": "nftables"}),
    ],
)
def test_ipmasq_removed_whatever_the_config_says(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, added: dict[str, Any], deleted: dict[str, Any]
) -> None:
    node, pod = make_netns("mqnode"), make_netns("mqpod")
    conf = {**bridge("iptables", tmp_path), **added}
    assert run_plugin(our_bin, node, "bridge", "ADD", conf, "mq", pod).returncode == 0
    assert "10.91.0." in ruleset(node).replace("10.91.0.0/24", "")
    out = run_plugin(our_bin, node, "bridge", "DEL", {**conf, **deleted}, "mq", pod)
    assert out.returncode == 0, out.stdout
    assert not mentions(ruleset(node), "mq", "faultbr")
    assert "10.91.0." not in ruleset(node).replace("10.91.0.0/24", "")


def test_status_when_no_backend_can_work(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    """Without CAP_NET_ADMIN (root without capabilities) neither iptables nor nf_tables
    answers: STATUS says so, with
    code 50 and both reasons."""
    node = make_netns("nobk")
    for kind in ("portmap", "firewall"):
        conf = {"cniVersion": "1.1.0", "name": "nobk", "type": kind}
        env = {**os.environ, "CNI_COMMAND": "STATUS", "CNI_PATH": str(our_bin)}
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
        out = subprocess.run(
            ["ip", "netns", "exec", node, *drop, str(our_bin / kind)],
            input=json.dumps(conf).encode(),
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
        error = json.loads(out.stdout)
        assert out.returncode == 1
        assert error["code"] == 50, error
        assert "iptables" in error["msg"], error
        assert "nftables" in error["msg"], error


@pytest.mark.parametrize("lock", ["/run/xtables.lock", "/run/cni/netfilter.lock"])
def test_k6_a_held_lock_delays_but_does_not_break(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, lock: str
) -> None:
    """K6: another process holds the xtables lock (or ours) for 3 s while portmap ADDs and
    DELs on iptables: both complete once it is free, and no jump is doubled. (iptables-nft
    does not take the xtables lock; with the legacy tools the restore waits for it, at most
    10 s; our own lock is waited for at most 30 s, then code 11.)"""
    node, pod = make_netns("k6node"), make_netns("k6pod")
    conf = chained("portmap", "iptables", tmp_path)
    holder = subprocess.Popen(["flock", lock, "sleep", "3"])
    try:
        assert run_plugin(our_bin, node, "portmap", "ADD", conf, "k6", pod).returncode == 0
        assert run_plugin(our_bin, node, "portmap", "ADD", conf, "k6", pod).returncode == 0
    finally:
        holder.wait(timeout=20)
    saved = subprocess.run(
        ["ip", "netns", "exec", node, "iptables-save", "-t", "nat"], capture_output=True, text=True, check=True
    ).stdout
    jumps = [line for line in saved.splitlines() if line.startswith("-A CNI-HOSTPORT-DNAT")]
    assert len(jumps) == 2  # tcp and udp, once each
    assert (
        len(
            [
                line
                for line in saved.splitlines()
                if line == "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"
            ]
        )
        == 1
    )
    assert run_plugin(our_bin, node, "portmap", "DEL", conf, "k6", pod).returncode == 0


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_del_without_the_mappings(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, backend: str
) -> None:
    """A runtime that does not resend runtimeConfig (nor prevResult) on DEL: portmap removes
    what its ADD recorded (the reference's DEL does nothing then)."""
    node, pod = make_netns("nomapnode"), make_netns("nomappod")
    conf = chained("portmap", backend, tmp_path)
    assert run_plugin(our_bin, node, "portmap", "ADD", conf, "nomap", pod).returncode == 0
    assert mentions(ruleset(node), "nomap", "faultnet")
    bare = {k: v for k, v in conf.items() if k not in ("runtimeConfig", "prevResult")}
    assert run_plugin(our_bin, node, "portmap", "DEL", bare, "nomap", pod).returncode == 0
    rules = ruleset(node)
    assert not mentions(rules, "nomap", "faultnet")
    assert "10.90.0.5" not in rules
