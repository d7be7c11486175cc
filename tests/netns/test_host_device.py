# SPDX-License-Identifier: Apache-2.0
"""The host-device plugin: a node interface moves into the pod and back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import World, normalise_result, ok, pod_state, veth_pair

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
    return veth_pair(world.node, "hd0", "hd1")


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
@pytest.mark.parametrize("how", ["device", "hwaddr"])
def test_moves_in_and_back(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str, how: str
) -> None:
    world = World("hd", tmp_path, make_netns, conflist(version), our_bin)
    mac = with_device(world)
    before = world.snapshot()
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
    assert world.snapshot() == before
    ok(world.cni("del"))


def test_needs_exactly_one_selector_and_an_existing_device(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("hdbad", tmp_path, make_netns, conflist(device="nope0"), our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert json.loads(out.stdout)["code"] == 7
    (world.conf_dir / "10-net.conflist").write_text(json.dumps(conflist(device="a", hwaddr="b")))
    assert json.loads(world.cni("add").stdout)["code"] == 7
    assert world.snapshot() == before


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


# --- devices found through sysfs: PCI, virtio, auxiliary bus, kernelpath, DPDK ------------
#
# This VM has no PCI network card, sub-function or DPDK binding, so the plugin runs in a
# private mount namespace where /sys/bus and /sys/devices are a small stand-in tree made
# by the test, shaped like the kernel's (`net/<ifname>` directories, `driver` symlinks).
# The interface it points at (hd0) is a real veth in the node namespace, and moves for real.

PCI_NIC = "0000:00:0a.0"
PCI_DPDK = "0000:00:0b.0"
PCI_VIRTIO = "0000:00:0c.0"
AUX_SF = "mlx5_core.sf.4"


def fake_sysfs(root: Path) -> Path:
    bus = root / "bus"
    for driver in ("e1000e", "vfio-pci", "virtio-pci"):
        (bus / "pci/drivers" / driver).mkdir(parents=True)
    for device, driver, net in (
        (PCI_NIC, "e1000e", "net/hd0"),
        (PCI_DPDK, "vfio-pci", None),
        (PCI_VIRTIO, "virtio-pci", "virtio3/net/hd0"),
    ):
        directory = bus / "pci/devices" / device
        directory.mkdir(parents=True)
        (directory / "driver").symlink_to(f"../../drivers/{driver}")
        if net:
            (directory / net).mkdir(parents=True)
    (bus / "auxiliary/devices" / AUX_SF / "net/hd0").mkdir(parents=True)
    (root / "devices/pci0000:00" / PCI_NIC / "net/hd0").mkdir(parents=True)
    return root


def run_with_sysfs(
    world: World, sysfs: Path, plugin: Path, command: str, conf: dict[str, Any]
) -> subprocess.CompletedProcess[bytes]:
    script = (
        f"mount --bind {sysfs}/bus /sys/bus && mount --bind {sysfs}/devices /sys/devices && "
        f"exec nsenter --net=/var/run/netns/{world.node} {plugin}"
    )
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": world.pod_path(),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(plugin.parent),
    }
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )


def plugin_conf(world: World, **select: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "hdnet",
        "type": "host-device",
        **select,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.33.0.0/24"}]], "dataDir": str(world.ipam)},
    }


@pytest.mark.parametrize(
    "select",
    [
        {"pciBusID": PCI_NIC},
        {"pciBusID": PCI_VIRTIO},
        {"kernelpath": f"/sys/devices/pci0000:00/{PCI_NIC}"},
        {"runtimeConfig": {"deviceID": AUX_SF}},
        {"runtimeConfig": {"deviceID": PCI_NIC}},
    ],
    ids=["pci", "virtio", "kernelpath", "auxiliary", "deviceID-pci"],
)
def test_devices_found_through_sysfs_move_in_and_back(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, select: dict[str, Any]
) -> None:
    world = World("hdsys", tmp_path, make_netns, conflist(), our_bin)
    mac = with_device(world)
    sysfs = fake_sysfs(tmp_path / "sysfs")
    conf = plugin_conf(world, **select)
    out = run_with_sysfs(world, sysfs, our_bin / "host-device", "ADD", conf)
    assert out.returncode == 0, (out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert result["interfaces"] == [{"name": "eth0", "mac": mac, "sandbox": world.pod_path()}]
    assert "hd0" not in node_links(world)
    out = run_with_sysfs(world, sysfs, our_bin / "host-device", "DEL", conf)
    assert out.returncode == 0, out.stdout
    assert "hd0" in node_links(world)
    assert world.reservations() == []


def test_dpdk_bound_device_moves_nothing_and_still_gets_addresses(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("hddpdk", tmp_path, make_netns, conflist(), our_bin)
    with_device(world)
    sysfs = fake_sysfs(tmp_path / "sysfs")
    plugin = our_bin / "host-device"
    conf = plugin_conf(world, pciBusID=PCI_DPDK)
    out = run_with_sysfs(world, sysfs, plugin, "ADD", conf)
    assert out.returncode == 0, (out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert "interfaces" not in result  # none, and an empty list is omitted as in Go
    assert result["ips"] == [{"address": "10.33.0.2/24", "gateway": "10.33.0.1"}]
    assert world.reservations() == ["10.33.0.2"]
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert "hd0" in node_links(world)
    out = run_with_sysfs(world, sysfs, plugin, "CHECK", {**conf, "prevResult": result})
    assert out.returncode == 0, out.stdout
    out = run_with_sysfs(world, sysfs, plugin, "DEL", conf)
    assert out.returncode == 0, out.stdout
    assert world.reservations() == []


@pytest.mark.parametrize(
    ("select", "words"),
    [
        ({"kernelpath": "/etc/ssh"}, "must be absolute and begin with /sys/devices/"),
        ({"kernelpath": "/sys/devices/../../etc"}, "must be absolute and begin with /sys/devices/"),
        ({"pciBusID": "../../../etc"}, "invalid device ID"),
        ({"pciBusID": "0000:00:1f.7"}, "no PCI or auxiliary device"),
        ({"runtimeConfig": {"deviceID": "mlx5_core.sf.9"}}, "no PCI or auxiliary device"),
    ],
)
def test_sysfs_selectors_are_checked(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, select: dict[str, Any], words: str
) -> None:
    world = World("hdsel", tmp_path, make_netns, conflist(), our_bin)
    with_device(world)
    out = run_with_sysfs(
        world, fake_sysfs(tmp_path / "sysfs"), our_bin / "host-device", "ADD", plugin_conf(world, **select)
    )
    assert out.returncode == 1
    error = json.loads(out.stdout)
    assert error["code"] == 7
    assert words in error["msg"]
    assert "hd0" in node_links(world)
    assert world.reservations() == []
