# SPDX-License-Identifier: Apache-2.0
"""The dhcp IPAM plugin's ADD (a lease from dnsmasq) and DEL (its release) as a process,
ours (launcher, and shim served by the agent) with `cni dhcp daemon` beside Debian's
plugin with its own daemon, against the same dnsmasq on the same bridge.

    .venv/bin/python -m pytest benches/test_dhcp.py --benchmark-enable
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.dhcp import BRIDGE, Lab, wait_for
from tests.support.env import REFERENCE_PLUGINS

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="needs Debian's dnsmasq-base"),
]


@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("implementation", ["ours", "ours-agent", "reference"])
def test_dhcp_process(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    make_netns: Callable[[str], str],
    tmp_path: Path,
    our_bin: Path,
    implementation: str,
    verb: str,
) -> None:
    benchmark.group = f"dhcp {verb} as a process"
    if implementation == "reference" and not (REFERENCE_PLUGINS / "dhcp").exists():
        pytest.skip("needs containernetworking-plugins")
    lab = Lab(tmp_path, make_netns, our_bin)
    reference_daemon = None
    try:
        node, pod = lab.world.node, lab.world.pods[0]
        subprocess.run(
            ["ip", "-n", node, "link", "add", "dhbench", "type", "veth", "peer", "name", "eth0", "netns", pod],
            check=True,
        )
        subprocess.run(["ip", "-n", node, "link", "set", "dhbench", "master", BRIDGE, "up"], check=True)
        subprocess.run(["ip", "-n", pod, "link", "set", "eth0", "up"], check=True)
        if implementation == "reference":
            plugins, socket_path = REFERENCE_PLUGINS, tmp_path / "reference" / "dhcp.sock"
            socket_path.parent.mkdir()
            reference_daemon = subprocess.Popen(
                ["ip", "netns", "exec", node, str(plugins / "dhcp"), "daemon", "-socketpath", str(socket_path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for(socket_path.exists, 20, "the reference daemon's socket")
        else:
            plugins = request.getfixturevalue("agent_bin") if implementation == "ours-agent" else our_bin
            socket_path = lab.socket
            lab.start_daemon()
        conf = {
            "cniVersion": "1.0.0",
            "name": "benchdhcp",
            "type": "bridge",
            "ipam": {"type": "dhcp", "daemonSocketPath": str(socket_path)},
        }
        stdin = json.dumps(conf).encode()
        env = {
            "CNI_CONTAINERID": "bench",
            "CNI_NETNS": f"/var/run/netns/{pod}",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(plugins),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }

        def run(command: str) -> None:
            out = subprocess.run(
                ["ip", "netns", "exec", node, str(plugins / "dhcp")],
                env={**env, "CNI_COMMAND": command},
                input=stdin,
                capture_output=True,
                check=False,
                timeout=60,
            )
            assert out.returncode == 0, out.stdout.decode()

        undo = "DEL" if verb == "ADD" else "ADD"
        benchmark.pedantic(run, args=(verb,), setup=lambda: run(undo), rounds=10, warmup_rounds=1)
    finally:
        if reference_daemon is not None:
            reference_daemon.kill()
            reference_daemon.wait(timeout=10)
        lab.close()
