# SPDX-License-Identifier: Apache-2.0
"""The host-device plugin: a node interface moves into the pod and back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE_PLUGINS
from tests.worlds import World, normalise_result, ok, pod_state

pytestmark = pytest.mark.netns


def conflist(version: str = "1.0.0", **select: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "hdnet",
        "plugins": [
            {
                "type": "host-device",
                **select,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.33.0.0/24"}]], "dataDir": "@IPAM@"},
            }
        ],
    }


def node_links(world: World) -> list[str]:
    out = subprocess.run(["ip", "-n", world.node, "-o", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(": ")[1].split("@")[0] for line in out.splitlines())


def with_device(world: World) -> str:
    subprocess.run(["ip", "-n", world.node, "link", "add", "hd0", "type", "veth", "peer", "name", "hd1"], check=True)
    out = subprocess.run(
        ["ip", "-n", world.node, "-o", "link", "show", "hd0"], capture_output=True, text=True, check=True
    ).stdout
    return out.split("link/ether ")[1].split()[0]


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
@pytest.mark.parametrize("how", ["device", "hwaddr"])
def test_moves_in_and_back(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str, how: str
) -> None:
    world = World("hd", tmp_path, make_netns, conflist(version), our_bin)
    mac = with_device(world)
    select = {"device": "hd0"} if how == "device" else {"hwaddr": mac}
    (world.conf_dir / "10-net.conflist").write_text(
        json.dumps(conflist(version, **select)).replace("@IPAM@", str(world.ipam))
    )
    result = ok(world.cni("add"))
    assert result["interfaces"] == [{"name": "eth0", "mac": mac, "sandbox": world.pod_path()}]
    assert pod_state(world.pods[0])["addrs"] == ["10.33.0.2/24"]
    assert "hd0" not in node_links(world)
    if version != "0.3.1":
        ok(world.cni("check"))
    ok(world.cni("del"))
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert "hd0" in node_links(world)
    assert world.reservations() == []
    ok(world.cni("del"))


def test_needs_exactly_one_selector_and_an_existing_device(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("hdbad", tmp_path, make_netns, conflist(device="nope0"), our_bin)
    out = world.cni("add")
    assert json.loads(out.stdout)["code"] == 7
    (world.conf_dir / "10-net.conflist").write_text(json.dumps(conflist(device="a", hwaddr="b")))
    assert json.loads(world.cni("add").stdout)["code"] == 7
    assert world.reservations() == []


@pytest.mark.interop
def test_same_as_reference(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    if not (REFERENCE_PLUGINS / "host-device").exists():
        pytest.skip("needs containernetworking-plugins")
    ours = World("hdo", tmp_path, make_netns, conflist(device="hd0"), our_bin)
    theirs = World("hdr", tmp_path, make_netns, conflist(device="hd0"), REFERENCE_PLUGINS)
    for world in (ours, theirs):
        with_device(world)
    assert normalise_result(ok(ours.cni("add"))) == normalise_result(ok(theirs.cni("add")))
    assert pod_state(ours.pods[0]) == pod_state(theirs.pods[0])
    ok(ours.cni("del"))
    ok(theirs.cni("del"))
    assert node_links(ours) == node_links(theirs)
