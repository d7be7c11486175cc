# SPDX-License-Identifier: Apache-2.0
"""Switching a node between Debian's reference plugins and ours leaks no firewall rule:
the reference's ADD of podman's default network (bridge with ipMasq, host-local,
portmap, firewall) is undone by our DEL, and ours by theirs (iptables, the layout both
share). Traffic through the mapped port works whichever made the rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.netns.test_portmap import NODE, OUTSIDE, conflist, mentions, pod_ip, ruleset
from tests.support.env import REFERENCE_PLUGINS
from tests.support.traffic import server, wait_for, wire_outside
from tests.support.world import World, ok

pytestmark = [
    pytest.mark.interop,
    pytest.mark.netns,
    pytest.mark.skipif(not (REFERENCE_PLUGINS / "portmap").exists(), reason="needs containernetworking-plugins"),
]
MAPPINGS = [{"hostPort": 8081, "containerPort": 80, "protocol": "tcp"}]


@pytest.mark.parametrize("adder", ["reference", "ours"])
def test_one_adds_the_other_deletes(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, adder: str
) -> None:
    # podman's network as the portmap tests have it; the reference ignores our dataDir keys.
    world = World("sw", tmp_path, make_netns, conflist(tmp_path, None), our_bin)
    outside = make_netns("swout")
    wire_outside(world.node, outside)
    before = ruleset(world.node)
    add_path, del_path = (REFERENCE_PLUGINS, our_bin) if adder == "reference" else (our_bin, REFERENCE_PLUGINS)
    world.cni_path = add_path
    result = ok(world.cni("add", 0, "swc", cap_args={"portMappings": MAPPINGS}))
    pod = pod_ip(result)
    rules = ruleset(world.node)
    assert "CNI-DN-" in rules
    assert pod in rules
    with server(world.pods[0], 80):
        assert wait_for(outside, NODE, 8081) == OUTSIDE
    world.cni_path = del_path
    out = world.cni("del", 0, "swc", cap_args={"portMappings": MAPPINGS})
    assert out.returncode == 0, out.stdout.decode()
    after = ruleset(world.node)
    assert pod not in after
    assert not mentions(after, "swc")
    assert "CNI-DN-" not in after
    # What stays is the shared scaffolding either implementation leaves for the next pod.
    shared = ("-j CNI-HOSTPORT-DNAT", "-j CNI-HOSTPORT-MASQ", "-j MARK --set-xmark", "-j CNI-FORWARD", "-j CNI-ADMIN")
    masq_marked = "-A CNI-HOSTPORT-MASQ -m mark --mark"
    added = [line for line in after.splitlines() if line.startswith("-A ") and line not in before.splitlines()]
    assert all(any(s in line for s in shared) or line.startswith(masq_marked) for line in added), added
