# SPDX-License-Identifier: Apache-2.0
"""macvlan, ipvlan and vlan (on a veth master in a throwaway node namespace), and dummy.

This VM's kernel has no dummy, ipvlan or vlan links: those tests detect it and skip; run
them for real with ../shared/tools/kernel-matrix/run.sh ".venv/bin/python -m pytest
tests/netns/test_macvlan_dummy.py".
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import World, kernel_supports, link_details, normalise_result, ok, pod_state, veth_pair

pytestmark = pytest.mark.netns
VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def conflist(kind: str, version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": f"{kind}net",
        "plugins": [
            {
                "type": kind,
                **extra,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.55.0.0/24"}]],
                    "dataDir": "@IPAM@",
                    "routes": [{"dst": "10.56.0.0/16"}],
                },
            }
        ],
    }


def with_master(world: World) -> None:
    veth_pair(world.node, "uplink0", "uplink1")


@pytest.mark.parametrize("version", VERSIONS)
def test_macvlan_add_check_del(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str) -> None:
    world = World("mv", tmp_path, make_netns, conflist("macvlan", version, master="uplink0", mode="bridge"), our_bin)
    with_master(world)
    before = world.snapshot()
    result = ok(world.cni("add"))
    assert result["cniVersion"] == version
    assert result["interfaces"][0]["name"] == "eth0"
    assert result["ips"][0]["address"] == "10.55.0.2/24"
    pod = pod_state(world.pods[0])
    assert pod["addrs"] == ["10.55.0.2/24"]
    assert ("10.56.0.0", 16, "10.55.0.1") in pod["routes"]
    kind = link_details(world.pods[0])
    assert "macvlan mode bridge" in kind
    if version != "0.3.1":
        ok(world.cni("check"))
    ok(world.cni("del"))
    assert world.snapshot() == before
    ok(world.cni("del"))


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"master": "nope0"}, 7),
        ({"mode": "weird"}, 7),
        ({"mtu": 9999, "master": "uplink0"}, 7),
        ({"master": "uplink0", "bcqueuelen": -1}, 7),
        ({"master": "uplink0", "linkInContainer": "yes"}, 7),
        # The master exists on the node, not in the container.
        ({"master": "uplink0", "linkInContainer": True}, 7),
    ],
)
def test_macvlan_bad_config_leaves_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, extra: dict[str, Any], code: int
) -> None:
    world = World("mvbad", tmp_path, make_netns, conflist("macvlan", **extra), our_bin)
    with_master(world)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == code
    assert world.snapshot() == before


def test_macvlan_broadcast_queue_length(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("mvbq", tmp_path, make_netns, conflist("macvlan", master="uplink0", bcqueuelen=3000), our_bin)
    with_master(world)
    ok(world.cni("add"))
    details = link_details(world.pods[0])
    assert "bcqueuelen 3000" in details
    ok(world.cni("del"))


def in_container_master(world: World) -> None:
    """A master interface that lives in the pod (linkInContainer): one end of a veth pair there."""
    veth_pair(world.pods[0], "up0", "up1")


def test_macvlan_link_in_container(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    """The master lives in the pod: the macvlan is made there, on it; DEL leaves the master."""
    conf = conflist("macvlan", master="up0", linkInContainer=True)
    world = World("mvlic", tmp_path, make_netns, conf, our_bin)
    in_container_master(world)
    result = ok(world.cni("add"))
    assert result["interfaces"][0]["name"] == "eth0"
    details = link_details(world.pods[0])
    assert "eth0@up0" in details
    assert "macvlan mode bridge" in details
    assert pod_state(world.pods[0])["addrs"] == ["10.55.0.2/24"]
    ok(world.cni("check"))
    ok(world.cni("del"))
    assert pod_state(world.pods[0])["links"] == ["lo", "up0", "up1"]
    assert world.reservations() == []


@pytest.mark.interop
def test_macvlan_same_as_reference(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    if not (REFERENCE_PLUGINS / "macvlan").exists():
        pytest.skip("needs containernetworking-plugins")
    conf = conflist("macvlan", master="uplink0")
    ours = World("mvo", tmp_path, make_netns, conf, our_bin)
    theirs = World("mvr", tmp_path, make_netns, conf, REFERENCE_PLUGINS)
    for world in (ours, theirs):
        with_master(world)
    assert normalise_result(ok(ours.cni("add"))) == normalise_result(ok(theirs.cni("add")))
    assert pod_state(ours.pods[0]) == pod_state(theirs.pods[0])
    ok(ours.cni("del"))
    ok(theirs.cni("del"))
    assert pod_state(ours.pods[0]) == pod_state(theirs.pods[0])


@pytest.mark.skipif(not kernel_supports("type", "dummy"), reason="this kernel has no dummy links (no modules to load)")
@pytest.mark.parametrize("version", VERSIONS)
def test_dummy_add_check_del(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str) -> None:
    world = World("dm", tmp_path, make_netns, conflist("dummy", version), our_bin)
    before = world.snapshot()
    result = ok(world.cni("add"))
    assert result["ips"][0]["address"] == "10.55.0.2/24"
    assert pod_state(world.pods[0])["addrs"] == ["10.55.0.2/24"]
    if version != "0.3.1":
        ok(world.cni("check"))
    ok(world.cni("del"))
    assert world.snapshot() == before


def test_dummy_needs_ipam(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    conf = {"cniVersion": "1.0.0", "name": "dmnet", "plugins": [{"type": "dummy"}]}
    world = World("dmx", tmp_path, make_netns, conf, our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == 7
    assert world.snapshot() == before


STACKED = [
    ("ipvlan", {"mode": "l2"}, ("link", "up0", "type", "ipvlan", "mode", "l2")),
    ("vlan", {"vlanId": 100}, ("link", "up0", "type", "vlan", "id", "100")),
]


@pytest.mark.parametrize(("kind", "extra", "probe"), STACKED, ids=[k for k, _, _ in STACKED])
def test_ipvlan_and_vlan_add_check_del(
    tmp_path: Path,
    make_netns: Callable[[str], str],
    our_bin: Path,
    kind: str,
    extra: dict[str, Any],
    probe: tuple[str, ...],
) -> None:
    if not kernel_supports(*probe):
        pytest.skip(f"this kernel has no {kind} links (no modules to load)")
    world = World(kind[:4], tmp_path, make_netns, conflist(kind, master="uplink0", **extra), our_bin)
    with_master(world)
    before = world.snapshot()
    result = ok(world.cni("add"))
    assert result["ips"][0]["address"] == "10.55.0.2/24"
    assert pod_state(world.pods[0])["addrs"] == ["10.55.0.2/24"]
    ok(world.cni("check"))
    ok(world.cni("del"))
    assert world.snapshot() == before


def ipvlan_supported() -> bool:
    return kernel_supports("link", "up0", "type", "ipvlan", "mode", "l2")


@pytest.mark.parametrize("kind", ["ipvlan", "vlan"])
def test_ipvlan_and_vlan_link_in_container(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, kind: str
) -> None:
    if not kernel_supports(*dict((k, p) for k, _, p in STACKED)[kind]):
        pytest.skip(f"this kernel has no {kind} links (no modules to load)")
    extra: dict[str, Any] = {"vlanId": 100} if kind == "vlan" else {}
    world = World(
        f"{kind[:3]}lic", tmp_path, make_netns, conflist(kind, master="up0", linkInContainer=True, **extra), our_bin
    )
    in_container_master(world)
    ok(world.cni("add"))
    details = link_details(world.pods[0])
    assert "eth0@up0" in details
    ok(world.cni("check"))
    ok(world.cni("del"))
    assert pod_state(world.pods[0])["links"] == ["lo", "up0", "up1"]


@pytest.mark.skipif(not ipvlan_supported(), reason="this kernel has no ipvlan links (no modules to load)")
def test_ipvlan_chained_without_ipam_takes_prev_result_addresses(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    """No ipam and no master: the master is prevResult's only interface, and the addresses
    and routes are prevResult's; DEL removes the link and releases nothing."""
    world = World("ipvch", tmp_path, make_netns, conflist("ipvlan"), our_bin)
    with_master(world)
    prev = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "uplink0"}],
        "ips": [{"address": "10.57.0.5/24", "gateway": "10.57.0.1"}],
        "routes": [{"dst": "10.58.0.0/16"}],
    }
    conf = {"cniVersion": "1.0.0", "name": "ipvch", "type": "ipvlan", "mode": "l3", "prevResult": prev}
    env = {
        **os.environ,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": world.pod_path(),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
    }

    def plugin(command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", world.node, str(our_bin / "ipvlan")],
            input=json.dumps(conf).encode(),
            env={**env, "CNI_COMMAND": command},
            capture_output=True,
            check=False,
            timeout=60,
        )

    out = plugin("ADD")
    result = json.loads(out.stdout)
    assert out.returncode == 0, result
    assert [i["name"] for i in result["interfaces"]] == ["eth0"]
    assert result["ips"] == [{"address": "10.57.0.5/24", "gateway": "10.57.0.1", "interface": 0}]
    pod = pod_state(world.pods[0])
    assert pod["addrs"] == ["10.57.0.5/24"]
    assert ("10.58.0.0", 16, "10.57.0.1") in pod["routes"]
    details = link_details(world.pods[0])
    assert "ipvlan  mode l3" in details or "ipvlan mode l3" in details
    assert plugin("DEL").returncode == 0
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert not (world.ipam / "ipvch").exists()


def test_ipvlan_without_ipam_or_prev_result_is_refused(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    conf = {"cniVersion": "1.0.0", "name": "ipvx", "plugins": [{"type": "ipvlan", "master": "uplink0"}]}
    world = World("ipvx", tmp_path, make_netns, conf, our_bin)
    with_master(world)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    error = json.loads(out.stdout)
    assert error["code"] == 7
    assert "no ipam" in error["msg"]
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("vlan", {"master": "uplink0", "vlanId": 5000}), ("vlan", {"vlanId": 10}), ("ipvlan", {"mode": "l9"})],
)
def test_ipvlan_and_vlan_bad_config(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, kind: str, extra: dict[str, Any]
) -> None:
    world = World("bad" + kind[:2], tmp_path, make_netns, conflist(kind, **extra), our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == 7
    assert world.snapshot() == before
    assert world.reservations() == []
