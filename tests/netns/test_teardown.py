# SPDX-License-Identifier: Apache-2.0
"""Teardown runs every step (issue 8): a bridge DEL with each of its steps made to fail in
turn still runs the others, releases the address, and names what failed; a second DEL
then finishes the job. The undo of a failed ADD does the same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import cni_env
from tests.support.observe import kernel, observe
from tests.support.world import World, ok, pod_state

pytestmark = pytest.mark.netns

DRIVER = Path(__file__).parent.parent / "drivers" / "teardown_faults.py"
ROOT = Path(__file__).parent.parent.parent

STEPS = {
    "delete_container_link": "delete the container interface",
    "_remove_spoofcheck": "remove the MAC spoof check",
    "ipam_del": "release the addresses (IPAM DEL)",
}


def conflist() -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "name": "tdnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "tdbr0",
                "isGateway": True,
                "macspoofchk": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.91.0.0/24"}]], "dataDir": "@IPAM@"},
            }
        ],
    }


def snapshot(world: World) -> dict[str, Any]:
    return {
        "node": observe(world.node, store=world.ipam / world.network, cache=world.cache),
        "pod": kernel(world.pods[0]),
    }


def with_faults(world: World, our_bin: Path, command: str, *failing: str) -> subprocess.CompletedProcess[bytes]:
    """Our bridge, in the node, for container c1, with the named steps made to fail."""
    env = cni_env(command, netns=world.pod_path(), path=our_bin, PYTHONPATH=str(ROOT))
    return subprocess.run(
        ["ip", "netns", "exec", world.node, sys.executable, str(DRIVER), "cni.plugins.bridge", *failing],
        input=world.plugin_stdin(),
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )


def spoofcheck_rules(world: World) -> str:
    out = world.in_node(["nft", "list", "ruleset"])
    return out.stdout.decode()


@pytest.mark.parametrize("failing", list(STEPS))
def test_bridge_del_runs_every_step_past_a_failure(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, failing: str
) -> None:
    world = World("td", tmp_path, make_netns, conflist(), our_bin)
    # What DEL keeps by design (the bridge, forwarding, the store's lock) is in the baseline.
    ok(world.cni("add", 0, "c0"))
    ok(world.cni("del", 0, "c0"))
    before = snapshot(world)
    ok(world.cni("add", 0, "c1"))
    assert len(world.reservations()) == 1
    assert "macspoofchk-c1-eth0" in spoofcheck_rules(world)
    out = with_faults(world, our_bin, "DEL", failing)
    assert out.returncode == 1, out.stderr.decode()
    answer = json.loads(out.stdout)
    assert answer["code"] == 5
    assert f"{STEPS[failing]} failed: injected failure of {failing}" in answer["msg"], answer
    # Every other step ran.
    if failing != "delete_container_link":
        assert pod_state(world.pods[0])["links"] == ["lo"]
    if failing != "_remove_spoofcheck":
        assert "macspoofchk-c1-eth0" not in spoofcheck_rules(world)
    if failing != "ipam_del":
        assert world.reservations() == [], "the address is released whatever failed before"
    # A plain DEL (what the runtime retries) then finishes: nothing of the attachment is left.
    ok_del = world.cni("del", 0, "c1")
    assert ok_del.returncode == 0, ok_del.stdout.decode()
    assert snapshot(world) == before


def test_bridge_add_undo_runs_every_step_past_a_failure(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    """ADD fails after IPAM (at the gateway addresses), and the first step of its undo (the
    host veth) fails too: the spoof check and the address still go, and the ADD's error says
    what the undo could not do."""
    world = World("tu", tmp_path, make_netns, conflist(), our_bin)
    ok(world.cni("add", 0, "c0"))
    ok(world.cni("del", 0, "c0"))
    before = snapshot(world)
    out = with_faults(world, our_bin, "ADD", "_ensure_gateway_addresses", "_del_link_if_present")
    assert out.returncode == 1, out.stderr.decode()
    answer = json.loads(out.stdout)
    assert "injected failure of _ensure_gateway_addresses" in answer["msg"]
    assert "undo: delete the host veth failed: injected failure of _del_link_if_present" in answer["details"]
    assert world.reservations() == [], "the address was released whatever failed before"
    assert "macspoofchk-c1-eth0" not in spoofcheck_rules(world)
    # The runtime's DEL then removes the rest (the veth goes with its container side).
    assert world.cni("del", 0, "c1").returncode == 0
    assert snapshot(world) == before
