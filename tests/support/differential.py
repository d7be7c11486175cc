# SPDX-License-Identifier: Apache-2.0
"""The one differential harness: a case through our plugins and the reference's, each in
its own node namespace under our runtime, with results and observed state compared.

Both sides run the same conflist; results are normalised (MACs, random veth names, pod
paths), node state is what :mod:`tests.support.observe` sees (links, addresses, routes of
every table, rules, nftables, iptables, qdiscs, forwarding), pod state its kernel part, and
the store its reservation files (our index beside them is ours alone).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.env import REFERENCE_PLUGINS
from tests.support.observe import files, kernel, observe
from tests.support.world import World, normalise_result


class Differential:
    """Ours and the reference side by side; `setup` runs on each world first."""

    def __init__(
        self,
        label: str,
        tmp: Path,
        make_netns: Callable[[str], str],
        conflist: dict[str, Any],
        our_bin: Path,
        *,
        pods: int = 1,
        setup: Callable[[World], object] | None = None,
    ) -> None:
        plugin = conflist["plugins"][0]["type"]
        if not (REFERENCE_PLUGINS / plugin).exists():
            pytest.skip("needs containernetworking-plugins")
        self.ours = World(f"{label}o", tmp, make_netns, conflist, our_bin, pods)
        self.theirs = World(f"{label}r", tmp, make_netns, conflist, REFERENCE_PLUGINS, pods)
        for world in (self.ours, self.theirs):
            if setup is not None:
                setup(world)

    def step(self, verb: str, pod: int = 0, cid: str = "c1") -> dict[str, Any] | None:
        """Runs `verb` on both sides; both must succeed or fail alike. Returns our normalised
        result (ADD), after checking it equals the reference's."""
        mine, theirs = self.ours.cni(verb, pod, cid), self.theirs.cni(verb, pod, cid)
        assert mine.returncode == theirs.returncode, (mine.stdout.decode(), theirs.stdout.decode())
        if verb != "add" or mine.returncode != 0:
            return None
        import json

        result = normalise_result(json.loads(mine.stdout))
        assert result == normalise_result(json.loads(theirs.stdout))
        return result

    @staticmethod
    def state(world: World, infra: set[str]) -> dict[str, Any]:
        return {
            "node": observe(world.node, infra=infra),
            "pods": [kernel(p) for p in world.pods],
            "store": [
                f
                for f in files(world.ipam / world.network, skip=("lock", "last_reserved_ip."))
                if ".cni-index" not in f
            ],
        }

    def assert_same_state(self, infra: set[str] | frozenset[str] = frozenset()) -> None:
        assert self.state(self.ours, set(infra)) == self.state(self.theirs, set(infra))
