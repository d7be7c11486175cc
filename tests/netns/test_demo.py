# SPDX-License-Identifier: Apache-2.0
"""`cni demo`, the README's first command: it works, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.env import CAN_NETNS

pytestmark = [pytest.mark.netns, pytest.mark.skipif(not CAN_NETNS, reason="needs root and `ip netns add`")]


def demo_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("cni-demo-")]


def test_demo_attaches_pings_and_cleans_up() -> None:
    before = demo_namespaces()
    out = subprocess.run(
        [sys.executable, "-m", "cni.cli", "demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": ok") == 9, out.stdout  # 6 pod-to-pod and 3 pod-to-gateway pings
    # The second round's addresses: host-local hands them out round-robin after the first's.
    assert "10.123.0.5/24" in out.stdout
    assert "detached all pods" in out.stdout
    # Each pod's ADD and DEL times without and with the agent, which is gone afterwards.
    assert "ADD ms: launcher  agent" in out.stdout
    assert "DEL ms (launcher / agent)" in out.stdout
    assert demo_namespaces() == before
    agents = subprocess.run(["pgrep", "-f", "cni.cli agent --socket /tmp/cni-demo-"], capture_output=True, check=False)
    assert agents.stdout == b""


def test_demo_interrupted_leaves_nothing() -> None:
    before = demo_namespaces()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cni.cli", "demo"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while len(demo_namespaces()) < len(before) + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert demo_namespaces() == before
    assert not [d for d in os.listdir("/tmp") if d.startswith("cni-demo-") and d not in before]


def test_demo_keep_prints_how_to_clean_up() -> None:
    before = demo_namespaces()
    out = subprocess.run(
        [sys.executable, "-m", "cni.cli", "demo", "--keep"], capture_output=True, text=True, timeout=300, check=False
    )
    try:
        assert out.returncode == 0, out.stdout + out.stderr
        kept = sorted(set(demo_namespaces()) - set(before))
        assert len(kept) == 5  # the node, three pods and the agent's
        commands = [
            line.strip() for line in out.stdout.splitlines() if line.strip().startswith(("ip netns del", "rm -rf"))
        ]
        assert sorted(c.split()[-1] for c in commands if c.startswith("ip netns")) == kept
    finally:
        for line in out.stdout.splitlines():
            parts = line.split()
            if line.strip().startswith("ip netns del") or line.strip().startswith("rm -rf /tmp/cni-demo-"):
                subprocess.run(parts, check=False)
    assert demo_namespaces() == before
