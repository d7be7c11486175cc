# SPDX-License-Identifier: Apache-2.0
"""The warm plugin path: VERSION through the shim with the agent running, through the shim
without one (it execs the launcher), through the launcher itself, beside Debian's reference
plugin and a bare `true` (the cost of any exec). The agent's memory goes into the
benchmark's extra_info: its RSS, and a worker's private (unshared) memory.

host-local ADD/DEL and bridge + host-local through libcni compare the agent too
(benches/test_ipam.py, benches/test_bridge.py: `ours-agent`).

    make bench        # or: .venv/bin/python -m pytest benches --benchmark-enable -k warm
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.agent import SERVING, idle_workers

from cni.install import install

REFERENCE_HOST_LOCAL = Path("/usr/lib/cni/host-local")
VERSION_ENV = {"CNI_COMMAND": "VERSION"}

pytestmark = pytest.mark.netns


def run(argv: list[str]) -> None:
    subprocess.run(argv, env=VERSION_ENV, stdout=subprocess.DEVNULL, check=True)


def _kib(path: str, field: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@pytest.mark.benchmark(group="VERSION")
def test_version_shim_with_agent(benchmark: BenchmarkFixture, agent_bin: Path) -> None:
    benchmark.pedantic(run, args=([str(agent_bin / "host-local")],), rounds=100, warmup_rounds=5)
    agent = SERVING[agent_bin]
    worker = min(idle_workers(agent))
    rollup = f"/proc/{worker}/smaps_rollup"
    benchmark.extra_info["agent_rss_kib"] = _kib(f"/proc/{agent.pid}/status", "VmRSS")
    benchmark.extra_info["worker_private_kib"] = _kib(rollup, "Private_Clean") + _kib(rollup, "Private_Dirty")
    benchmark.extra_info["worker_rss_kib"] = _kib(rollup, "Rss")


@pytest.mark.benchmark(group="VERSION")
def test_version_shim_without_agent(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    install(str(shims), agent_socket=str(tmp_path / "no-agent.sock"))
    benchmark.pedantic(run, args=([str(shims / "host-local")],), rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="VERSION")
def test_version_launcher(benchmark: BenchmarkFixture, launcher_bin: Path) -> None:
    benchmark.pedantic(run, args=([str(launcher_bin / "host-local")],), rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="VERSION")
@pytest.mark.skipif(not REFERENCE_HOST_LOCAL.exists(), reason="needs containernetworking-plugins")
def test_version_reference(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(run, args=([str(REFERENCE_HOST_LOCAL)],), rounds=100, warmup_rounds=5)


@pytest.mark.benchmark(group="VERSION")
def test_version_true(benchmark: BenchmarkFixture) -> None:
    true = shutil.which("true")
    assert true is not None
    benchmark.pedantic(run, args=([true],), rounds=100, warmup_rounds=5)
