# SPDX-License-Identifier: Apache-2.0
"""The tap plugin in throwaway namespaces."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import World, link_details, ok, pod_state

pytestmark = pytest.mark.netns


def conflist(version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "tapnet",
        "plugins": [
            {
                "type": "tap",
                **extra,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.22.0.0/24"}]], "dataDir": "@IPAM@"},
            }
        ],
    }


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_check_del(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str) -> None:
    world = World(
        "tap",
        tmp_path,
        make_netns,
        conflist(version, mac="02:aa:bb:cc:dd:01", mtu=1400, multiQueue=True, owner=0, group=0),
        our_bin,
    )
    before = world.snapshot()
    result = ok(world.cni("add"))
    assert result["interfaces"] == [{"name": "eth0", "mac": "02:aa:bb:cc:dd:01", "sandbox": world.pod_path()}]
    assert pod_state(world.pods[0])["addrs"] == ["10.22.0.2/24"]
    shown = link_details(world.pods[0])
    assert "tun type tap" in shown
    assert "vnet_hdr on" in shown
    assert "multi_queue" in shown
    assert "mtu 1400" in shown
    if version != "0.3.1":
        ok(world.cni("check"))
    ok(world.cni("del"))
    assert world.snapshot() == before


def test_attaches_to_a_bridge_in_the_container(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("tapbr", tmp_path, make_netns, conflist(bridge="br-vm"), our_bin)
    subprocess.run(["ip", "-n", world.pods[0], "link", "add", "br-vm", "type", "bridge"], check=True)
    ok(world.cni("add"))
    assert "master br-vm" in link_details(world.pods[0])
    ok(world.cni("del"))


@pytest.mark.parametrize(
    ("extra", "code"), [({"bridge": "missing"}, 7), ({"selinuxContext": "x"}, 2), ({"owner": -1}, 7)]
)
def test_bad_config(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, extra: dict[str, Any], code: int
) -> None:
    world = World("tapbad", tmp_path, make_netns, conflist(**extra), our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert json.loads(out.stdout)["code"] == code
    assert world.snapshot() == before
