# SPDX-License-Identifier: Apache-2.0
"""bridge + host-local ADD and DEL through real libcni, ours beside the reference.

A node namespace already holds 20 or 300 attached pods; then one more pod is added and
deleted, timed (each round: ADD after an untimed DEL, or DEL after an untimed ADD).
`ours` execs our launchers, `ours-agent` our shims with the agent running, and
`ours-ipam-exec` is ours with host-local exec'd rather than run in-process.

    .venv/bin/python -m pytest benches/test_bridge.py --benchmark-enable
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import World, ok

pytestmark = pytest.mark.netns

CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "benchnet",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "benchbr0",
            "isGateway": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.70.0.0/16"}]], "dataDir": "@IPAM@"},
        }
    ],
}


def exec_only_plugins(our_bin: Path, directory: Path) -> Path:
    """Our plugins, but with host-local behind a shell shim: bridge cannot tell it is ours,
    so it execs it. This measures what running our own IPAM in-process saves."""
    directory.mkdir()
    (directory / "bridge").symlink_to(our_bin / "bridge")
    shim = directory / "host-local"
    shim.write_text(f'#!/bin/sh\nexec {our_bin / "host-local"} "$@"\n')
    shim.chmod(0o755)
    return directory


@pytest.mark.parametrize("verb", ["add", "del"])
@pytest.mark.parametrize("pods", [20, 300])
@pytest.mark.parametrize("implementation", ["ours", "ours-agent", "ours-ipam-exec", "reference"])
def test_bridge_host_local(
    benchmark: BenchmarkFixture,
    tmp_path: Path,
    make_netns: Callable[[str], str],
    our_bin: Path,
    go_driver: Path,
    implementation: str,
    pods: int,
    verb: str,
    request: pytest.FixtureRequest,
) -> None:
    if implementation == "reference" and not (REFERENCE_PLUGINS / "bridge").exists():
        pytest.skip("needs containernetworking-plugins")
    benchmark.group = f"bridge+host-local {verb.upper()} via libcni, {pods} pods"
    if implementation == "reference":
        plugins = REFERENCE_PLUGINS
    elif implementation == "ours-ipam-exec":
        plugins = exec_only_plugins(our_bin, tmp_path / "exec-only")
    elif implementation == "ours-agent":
        plugins = request.getfixturevalue("agent_bin")
    else:
        plugins = our_bin
    world = World("bench", tmp_path, make_netns, CONFLIST, plugins, pods=pods + 1)
    for n in range(pods):
        ok(world.go(go_driver, "add", n, f"pod{n}"))
    last = pods
    undo = "del" if verb == "add" else "add"

    def step(which: str) -> None:
        ok(world.go(go_driver, which, last, "bench"))

    benchmark.pedantic(step, args=(verb,), setup=lambda: step(undo), rounds=15, warmup_rounds=1)
