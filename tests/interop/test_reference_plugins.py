# SPDX-License-Identifier: Apache-2.0
"""Our runtime library drives Debian's reference plugins, side by side with real libcni.

Each runtime gets its own throwaway node namespace (where the bridge, iptables rules and
sysctls live) and its own pod namespace; the same conflist goes through both, and the
results and the kernel state they leave must match once names with random parts and MACs
are normalised.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import World, node_state, normalise_result, ok, pod_state

pytestmark = [
    pytest.mark.interop,
    pytest.mark.netns,
    pytest.mark.skipif(not (REFERENCE_PLUGINS / "bridge").exists(), reason="needs containernetworking-plugins"),
]

CAP_ARGS = {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}


def conflist(portmap: bool = True) -> dict[str, Any]:
    plugins: list[dict[str, Any]] = [
        {
            "type": "bridge",
            "bridge": "cnitest0",
            "isGateway": True,
            "ipMasq": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.77.0.0/24"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": "@IPAM@",
            },
        },
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
    ]
    if not portmap:
        del plugins[1]
    return {"cniVersion": "1.0.0", "name": "refnet", "plugins": plugins}


@pytest.fixture
def worlds(tmp_path: Path, make_netns: Callable[[str], str], go_driver: Path) -> tuple[World, World, Path]:
    ours = World("ours", tmp_path, make_netns, conflist(), REFERENCE_PLUGINS, pods=2)
    theirs = World("go", tmp_path, make_netns, conflist(), REFERENCE_PLUGINS)
    return ours, theirs, go_driver


def test_add_check_del_match_libcni(worlds: tuple[World, World, Path]) -> None:
    ours, theirs, driver = worlds
    our_result = ok(ours.cni("add", cap_args=CAP_ARGS))
    go_result = ok(theirs.go(driver, "add", cap_args=CAP_ARGS))
    assert normalise_result(our_result) == normalise_result(go_result)
    assert our_result["ips"][0]["address"] == "10.77.0.2/24"

    assert pod_state(ours.pods[0]) == pod_state(theirs.pods[0])
    assert pod_state(ours.pods[0])["addrs"] == ["10.77.0.2/24"]
    assert node_state(ours.node, "cnitest0") == node_state(theirs.node, "cnitest0")
    state = node_state(ours.node, "cnitest0")
    assert state["bridge_addrs"] == ["10.77.0.1/24"]
    assert any("CNI-HOSTPORT-DNAT" in rule for rule in state["iptables"])
    assert any("--dport 18080" in rule for rule in state["iptables"])
    assert ours.reservations() == theirs.reservations() == ["10.77.0.2"]

    # Debian's portmap 1.1.1 fails CHECK on IPv4-only pods (plugins#819, fixed upstream):
    # what matters here is that both runtimes get the same answer.
    our_check, go_check = ours.cni("check", cap_args=CAP_ARGS), theirs.go(driver, "check", cap_args=CAP_ARGS)
    assert our_check.returncode == go_check.returncode == 1
    assert json.loads(our_check.stdout)["msg"] == json.loads(go_check.stdout)["error"]
    assert "could not check ipv6 dnat" in json.loads(our_check.stdout)["msg"]

    ok(ours.cni("del", cap_args=CAP_ARGS))
    ok(theirs.go(driver, "del", cap_args=CAP_ARGS))
    assert pod_state(ours.pods[0]) == pod_state(theirs.pods[0])
    assert pod_state(ours.pods[0])["links"] == ["lo"]
    assert node_state(ours.node, "cnitest0") == node_state(theirs.node, "cnitest0")
    assert not any("18080" in rule for rule in node_state(ours.node, "cnitest0")["iptables"])
    assert ours.reservations() == theirs.reservations() == []
    assert os.listdir(ours.cache / "results") == []
    ok(ours.cni("del", cap_args=CAP_ARGS))  # DEL again: the attachment is gone, still success


def test_check_passes_then_fails_when_the_container_lost_its_address(
    tmp_path: Path, make_netns: Callable[[str], str]
) -> None:
    ours = World("chk", tmp_path, make_netns, conflist(portmap=False), REFERENCE_PLUGINS)
    ok(ours.cni("add"))
    ok(ours.cni("check"))
    subprocess.run(["ip", "-n", ours.pods[0], "addr", "flush", "dev", "eth0"], check=True)
    out = ours.cni("check")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] != 0
    ok(ours.cni("del"))


def test_gc_releases_what_missed_dels_left(worlds: tuple[World, World, Path]) -> None:
    ours, _, _ = worlds
    ok(ours.cni("add", 0, "keep", cap_args=CAP_ARGS))
    ok(ours.cni("add", 1, "lost", cap_args=CAP_ARGS))
    assert ours.reservations() == ["10.77.0.2", "10.77.0.3"]
    ok(ours.cni("gc", 0, "", "--valid", "keep/eth0"))
    assert ours.reservations() == ["10.77.0.2"]
    assert sorted(os.listdir(ours.cache / "results")) == ["refnet-keep-eth0"]
    rules = node_state(ours.node, "cnitest0")["iptables"]
    assert sum("--dport 18080" in r and "-j DNAT" in r for r in rules) == 1, "the lost pod's mapping is gone"
    assert pod_state(ours.pods[1])["links"] == ["lo"]
    ok(ours.cni("del", 0, "keep", cap_args=CAP_ARGS))


def test_del_after_the_pod_namespace_is_gone(worlds: tuple[World, World, Path]) -> None:
    """DEL still reaches every plugin when the netns has vanished, so IPAM releases."""
    ours, theirs, driver = worlds
    ok(ours.cni("add", cap_args=CAP_ARGS))
    ok(theirs.go(driver, "add", cap_args=CAP_ARGS))
    for world in (ours, theirs):
        subprocess.run(["ip", "netns", "del", world.pods[0]], check=True)
    ok(ours.cni("del", cap_args=CAP_ARGS))
    ok(theirs.go(driver, "del", cap_args=CAP_ARGS))
    assert ours.reservations() == theirs.reservations() == []
    assert node_state(ours.node, "cnitest0") == node_state(theirs.node, "cnitest0")
    assert not any("18080" in rule for rule in node_state(ours.node, "cnitest0")["iptables"])
    assert os.listdir(ours.cache / "results") == []
