# SPDX-License-Identifier: Apache-2.0
"""F1: a plugin killed (SIGKILL) at any point of ADD, then DEL with the same arguments,
leaves nothing behind.

The kill points are injected, not timed: strace kills the plugin at the N-th call of one
system call (netlink `sendto`, the `linkat` that makes a reservation appear, the `rename`
of an index file, any `write`, the tap `ioctl`), for N = 1, 2, ... until an ADD runs to
the end without meeting an N-th call. So every gap between two kernel- or disk-changing
calls gets a kill, and each is followed by a DEL and a comparison of node, pod and store
state with the state before the ADD.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import kill_at_each_point, plugin_runner
from tests.support.observe import kernel, observe
from tests.support.world import World, kernel_supports, veth_pair

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (fault injection)"),
]

# More calls than any ADD makes; a loop that reaches it is a bug in the test, not a pass.
MAX_POINTS = 80


def conflist(kind: str, subnet: str, **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": f"f1{kind.replace('-', '')}",
        "plugins": [
            {
                "type": kind,
                **extra,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": "@IPAM@",
                    "routes": [{"dst": "10.99.0.0/16"}],
                },
            }
        ],
    }


# plugin -> (config, links the test makes in the node beforehand, node links the plugin may
# leave on purpose (the bridge, as the reference does), syscalls to inject at)
CASES: dict[str, tuple[dict[str, Any], tuple[str, str] | None, set[str], tuple[str, ...]]] = {
    "bridge": (
        conflist("bridge", "10.81.0.0/24", bridge="f1br0", isGateway=True, macspoofchk=True),
        None,
        {"f1br0"},
        ("sendto", "linkat", "rename", "write"),
    ),
    "ptp": (conflist("ptp", "10.82.0.0/24"), None, set(), ("sendto", "linkat", "rename", "write")),
    "macvlan": (
        conflist("macvlan", "10.83.0.0/24", master="up0", mode="bridge"),
        ("up0", "up1"),
        set(),
        ("sendto", "linkat", "write"),
    ),
    "host-device": (
        conflist("host-device", "10.84.0.0/24", device="hd0"),
        ("hd0", "hd1"),
        set(),
        ("sendto", "linkat", "write"),
    ),
    "tap": (conflist("tap", "10.85.0.0/24"), None, set(), ("sendto", "linkat", "ioctl", "write")),
    "ipvlan": (
        conflist("ipvlan", "10.86.0.0/24", master="up0"),
        ("up0", "up1"),
        set(),
        ("sendto", "linkat", "write"),
    ),
    "vlan": (
        conflist("vlan", "10.87.0.0/24", master="up0", vlanId=100),
        ("up0", "up1"),
        set(),
        ("sendto", "linkat", "write"),
    ),
    "dummy": (conflist("dummy", "10.88.0.0/24"), None, set(), ("sendto", "linkat", "write")),
}

# Link types this VM's kernel lacks run under kernel-matrix (see the README).
_PROBES = {
    "ipvlan": ("link", "up0", "type", "ipvlan", "mode", "l2"),
    "vlan": ("link", "up0", "type", "vlan", "id", "100"),
    "dummy": ("type", "dummy"),
}
KINDS = [
    pytest.param(
        kind,
        marks=pytest.mark.skipif(
            kind in _PROBES and not kernel_supports(*_PROBES[kind]), reason=f"this kernel has no {kind} links"
        ),
    )
    for kind in sorted(CASES)
]


def snapshot(world: World, infra: set[str]) -> dict[str, Any]:
    """The node as the shared observer sees it (with the network's store), and the pod."""
    return {
        "node": observe(world.node, infra=infra, store=world.ipam / world.network, cache=world.cache),
        "pod": kernel(world.pods[0]),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_kill_at_every_injected_point_of_add_then_del_leaves_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, kind: str
) -> None:
    conf, premade, infra, syscalls = CASES[kind]
    world = World("f1", tmp_path, make_netns, conf, our_bin)
    if premade:
        veth_pair(world.node, *premade)
    stdin = world.plugin_stdin()
    env = {
        **os.environ,
        "CNI_CONTAINERID": "f1",
        "CNI_NETNS": world.pod_path(),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
    }

    run = plugin_runner(world.node, our_bin / kind, stdin, env, our_bin)
    # One clean ADD and DEL first: what DEL keeps by design (the bridge, forwarding on,
    # host-local's lock and index) is then part of the state to come back to.
    assert run("ADD").returncode == 0
    assert run("DEL").returncode == 0
    before = snapshot(world, infra)

    def after(syscall: str, n: int) -> None:
        delete = run("DEL")
        assert delete.returncode == 0, (syscall, n, delete.stdout)
        assert snapshot(world, infra) == before, f"leak after a kill at {syscall} #{n}"

    killed = kill_at_each_point(run, syscalls, after, MAX_POINTS)
    # Sanity: the injection really interrupted ADDs, and a clean ADD still works afterwards.
    assert killed >= 5
    assert run("ADD").returncode == 0
    assert run("DEL").returncode == 0
    assert snapshot(world, infra) == before
