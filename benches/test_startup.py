# SPDX-License-Identifier: Apache-2.0
"""Plugin process start-up: every CNI operation execs a fresh plugin, so this is latency.

Three processes answer VERSION (or do nothing), timed the same way:
- a plugin on our SDK, through the launcher `cni install` writes;
- Debian's reference `host-local` (Go);
- the bare interpreter, `python -I -S -c pass`, the floor for any Python plugin.

    make bench        # or: .venv/bin/python -m pytest benches --benchmark-enable -k startup
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

REFERENCE_HOST_LOCAL = Path("/usr/lib/cni/host-local")
VERSION_ENV = {"CNI_COMMAND": "VERSION"}


def run(argv: list[str]) -> None:
    subprocess.run(argv, env=VERSION_ENV, input=b'{"cniVersion":"1.1.0"}', stdout=subprocess.DEVNULL, check=True)


@pytest.mark.benchmark(group="startup")
def test_startup_our_plugin_version(benchmark: BenchmarkFixture, plugin_dir: Path) -> None:
    benchmark.pedantic(run, args=([str(plugin_dir / "echo")],), rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="startup")
@pytest.mark.skipif(not REFERENCE_HOST_LOCAL.exists(), reason="needs containernetworking-plugins")
def test_startup_reference_host_local_version(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(run, args=([str(REFERENCE_HOST_LOCAL)],), rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="startup")
def test_startup_bare_interpreter(benchmark: BenchmarkFixture) -> None:
    interpreter = os.path.realpath(sys.executable)
    benchmark.pedantic(run, args=([interpreter, "-I", "-S", "-c", "pass"],), rounds=40, warmup_rounds=3)
