# SPDX-License-Identifier: Apache-2.0
"""The ptp plugin in throwaway namespaces, beside Debian's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.differential import Differential
from tests.support.world import World, ok, pod_state

pytestmark = pytest.mark.netns
VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def conflist(version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "ptpnet",
        "plugins": [
            {
                "type": "ptp",
                "mtu": 1400,
                **extra,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.44.0.0/24"}]],
                    "dataDir": "@IPAM@",
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def host_routes(node: str) -> str:
    return subprocess.run(["ip", "-n", node, "route"], capture_output=True, text=True, check=True).stdout


def ping(netns: str, address: str) -> bool:
    return (
        subprocess.run(
            ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "1", address],
            capture_output=True,
            check=False,
            timeout=10,
        ).returncode
        == 0
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str) -> None:
    world = World("ptp", tmp_path, make_netns, conflist(version), our_bin, pods=2)
    first = ok(world.cni("add", 0, "a"))
    second = ok(world.cni("add", 1, "b"))
    assert first["cniVersion"] == version
    assert [i["name"][:4] for i in first["interfaces"]] == ["veth", "eth0"]
    assert first["ips"][0]["interface"] == 1
    pod = pod_state(world.pods[0])
    assert pod["addrs"] == ["10.44.0.2/24"]
    assert ("10.44.0.1", 32, "") in pod["routes"]
    assert ("10.44.0.0", 24, "10.44.0.1") in pod["routes"]
    assert ("default", 0, "10.44.0.1") in pod["routes"]
    routes = host_routes(world.node)
    assert "10.44.0.2 dev veth" in routes
    assert "10.44.0.3 dev veth" in routes
    # Routed, not bridged: pod to pod through the node.
    assert ping(world.pods[0], second["ips"][0]["address"].split("/")[0])
    assert ping(world.pods[0], "10.44.0.1")
    if version != "0.3.1":
        ok(world.cni("check", 0, "a"))
    ok(world.cni("del", 0, "a"))
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert "10.44.0.2 " not in host_routes(world.node)
    assert world.reservations() == ["10.44.0.3"]
    ok(world.cni("del", 1, "b"))
    assert world.reservations() == []


def test_bad_masq_backend_and_ipam_required(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("ptpbad", tmp_path, make_netns, conflist(ipMasq=True, ipMasqBackend="pf"), our_bin)
    noipam = {"cniVersion": "1.0.0", "name": "ptpnet", "plugins": [{"type": "ptp"}]}
    world2 = World("ptpnoipam", tmp_path, make_netns, noipam, our_bin)
    before = [world.snapshot(), world2.snapshot()]
    assert json.loads(world.cni("add").stdout)["code"] == 7
    assert json.loads(world2.cni("add").stdout)["code"] == 7
    assert [world.snapshot(), world2.snapshot()] == before


@pytest.mark.interop
def test_same_as_reference(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    case = Differential("ptp", tmp_path, make_netns, conflist(), our_bin)
    case.step("add")
    case.assert_same_state()
    case.step("del")
    case.assert_same_state()
