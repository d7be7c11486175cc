# SPDX-License-Identifier: Apache-2.0
"""The chained plugins' ADD and DEL as a process, ours (launcher, and shim served by the
agent) beside Debian's reference (v1.1.1), on a pod interface an interface plugin made.

    .venv/bin/python -m pytest benches/test_meta.py --benchmark-enable
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import kernel_supports

pytestmark = pytest.mark.netns

IMPLEMENTATIONS = ["ours", "ours-agent", "reference"]


def plugin_dir(request: pytest.FixtureRequest, implementation: str, plugin: str) -> Path:
    if implementation == "reference":
        if not (REFERENCE_PLUGINS / plugin).exists():
            pytest.skip("needs containernetworking-plugins")
        return REFERENCE_PLUGINS
    fixture = "agent_bin" if implementation == "ours-agent" else "our_bin"
    directory: Path = request.getfixturevalue(fixture)
    return directory


def pod_with_veth(make_netns: Callable[[str], str]) -> tuple[str, str]:
    node, pod = make_netns("metanode"), make_netns("metapod")
    subprocess.run(["ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"], check=True)
    subprocess.run(["ip", "-n", pod, "link", "set", "eth0", "up"], check=True)
    return node, pod


def runner(node: str, plugin: Path, pod: str, conf: dict[str, Any]) -> Callable[[str], None]:
    stdin = json.dumps(conf).encode()
    env = {
        "CNI_CONTAINERID": "bench",
        "CNI_NETNS": f"/var/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(plugin.parent),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }

    def run(command: str) -> None:
        out = subprocess.run(
            ["ip", "netns", "exec", node, str(plugin)],
            env={**env, "CNI_COMMAND": command},
            input=stdin,
            capture_output=True,
            check=False,
        )
        assert out.returncode == 0, out.stdout.decode()

    return run


def prev_result(pod: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": f"/var/run/netns/{pod}"}],
        "ips": [{"address": "10.1.0.2/24", "interface": 0}],
    }


@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_tuning_process(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    make_netns: Callable[[str], str],
    tmp_path: Path,
    implementation: str,
    verb: str,
) -> None:
    """Two sysctls, MAC, MTU and promiscuous mode (what v1.1.1 knows of)."""
    benchmark.group = f"tuning {verb} as a process"
    node, pod = pod_with_veth(make_netns)
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchtuning",
        "type": "tuning",
        "dataDir": str(tmp_path / "tuning"),
        "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2", "net.ipv4.conf.eth0.arp_notify": "1"},
        "mac": "02:11:22:33:44:55",
        "mtu": 1400,
        "promisc": True,
        "prevResult": prev_result(pod),
    }
    run = runner(node, plugin_dir(request, implementation, "tuning") / "tuning", pod, conf)
    undo = "DEL" if verb == "ADD" else "ADD"
    benchmark.pedantic(run, args=(verb,), setup=lambda: run(undo), rounds=25, warmup_rounds=1)


@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bandwidth_process(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    make_netns: Callable[[str], str],
    tmp_path: Path,
    implementation: str,
    verb: str,
) -> None:
    """Ingress and egress shaping (a TBF on the node's veth; an IFB, the redirect, its TBF)."""
    benchmark.group = f"bandwidth {verb} as a process"
    node, pod = make_netns("bwnode"), make_netns("bwpod")
    subprocess.run(
        ["ip", "-n", node, "link", "add", "vethbench", "type", "veth", "peer", "name", "eth0", "netns", pod], check=True
    )
    subprocess.run(["ip", "-n", node, "link", "set", "vethbench", "up"], check=True)
    prev = prev_result(pod)
    prev["interfaces"].insert(0, {"name": "vethbench"})
    prev["ips"][0]["interface"] = 1
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchbw",
        "type": "bandwidth",
        "dataDir": str(tmp_path / "bandwidth"),
        "ingressRate": 100_000_000,
        "ingressBurst": 1_000_000,
        "egressRate": 100_000_000,
        "egressBurst": 1_000_000,
        "prevResult": prev,
    }
    run = runner(node, plugin_dir(request, implementation, "bandwidth") / "bandwidth", pod, conf)
    undo = "DEL" if verb == "ADD" else "ADD"

    def setup() -> None:
        if implementation == "reference":
            # The reference's DEL leaves the veth's qdiscs (its interface plugin deletes
            # the veth next): they go, untimed, as the veth's would.
            run("DEL")
            for parent in ("root", "ingress"):
                tc_del = ["tc", "qdisc", "del", "dev", "vethbench", parent]
                subprocess.run(["ip", "netns", "exec", node, *tc_del], capture_output=True, check=False)
        run(undo)

    benchmark.pedantic(run, args=(verb,), setup=setup, rounds=25, warmup_rounds=1)


@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_sbr_process(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    make_netns: Callable[[str], str],
    tmp_path: Path,
    implementation: str,
    verb: str,
) -> None:
    """A rule and a table for one address, the interface's routes moved there. The
    reference's DEL leaves the routes in the table (the interface plugin deletes the link
    next); before each of its timed ADDs they go back, untimed."""
    benchmark.group = f"sbr {verb} as a process"
    node, pod = pod_with_veth(make_netns)
    for command in (
        ["addr", "add", "10.1.0.2/24", "dev", "eth0"],
        ["route", "add", "default", "via", "10.1.0.1", "dev", "eth0"],
    ):
        subprocess.run(["ip", "-n", pod, *command], check=True)
    prev = prev_result(pod)
    prev["ips"][0]["gateway"] = "10.1.0.1"
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchsbr",
        "type": "sbr",
        "dataDir": str(tmp_path / "sbr"),
        "prevResult": prev,
    }
    run = runner(node, plugin_dir(request, implementation, "sbr") / "sbr", pod, conf)
    undo = "DEL" if verb == "ADD" else "ADD"

    def reset_reference() -> None:
        run("DEL")
        subprocess.run(["ip", "-n", pod, "route", "flush", "table", "100"], check=False)
        for command in (
            ["addr", "flush", "dev", "eth0"],
            ["addr", "add", "10.1.0.2/24", "dev", "eth0"],
            ["route", "add", "default", "via", "10.1.0.1", "dev", "eth0"],
        ):
            subprocess.run(["ip", "-n", pod, *command], check=True)

    def setup() -> None:
        if implementation != "reference":
            run(undo)
            return
        reset_reference()
        if verb == "DEL":
            run("ADD")

    benchmark.pedantic(run, args=(verb,), setup=setup, rounds=25, warmup_rounds=1)


@pytest.mark.skipif(not kernel_supports("type", "vrf", "table", "10"), reason="this kernel has no VRF links")
@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_vrf_process(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    make_netns: Callable[[str], str],
    tmp_path: Path,
    implementation: str,
    verb: str,
) -> None:
    """A VRF made, the interface enslaved with its address and default route, and back."""
    benchmark.group = f"vrf {verb} as a process"
    node, pod = pod_with_veth(make_netns)
    for command in (
        ["addr", "add", "10.1.0.2/24", "dev", "eth0"],
        ["route", "add", "default", "via", "10.1.0.1", "dev", "eth0"],
    ):
        subprocess.run(["ip", "-n", pod, *command], check=True)
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchvrf",
        "type": "vrf",
        "vrfname": "blue",
        "table": 10,
        "dataDir": str(tmp_path / "vrf"),
        "prevResult": prev_result(pod),
    }
    run = runner(node, plugin_dir(request, implementation, "vrf") / "vrf", pod, conf)
    undo = "DEL" if verb == "ADD" else "ADD"
    benchmark.pedantic(run, args=(verb,), setup=lambda: run(undo), rounds=25, warmup_rounds=1)
