# SPDX-License-Identifier: Apache-2.0
"""Debian's podman (4.3, CNI backend) runs containers on our plugins alone: the network
`podman network create` writes (bridge with ipMasq and hairpin, host-local, portmap,
firewall, tuning), with no other plugin directory, `podman run -p`, restart,
`podman network reload` and `podman rm -f`, which leaves no rule, address, link or cache
entry. podman runs in a node network namespace and a mount namespace of its own, with its
storage, config and state under the test's directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netns.test_portmap import NODE, mentions, ruleset
from tests.support.traffic import wire_outside

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs Debian's podman"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox-static for the test image"),
]

HTTP_GET = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.decode(errors="replace").split("\r\n\r\n", 1)[-1])
"""


class Podman:
    def __init__(self, tmp: Path, node: str, our_bin: Path) -> None:
        self.tmp, self.node = tmp, node
        self.network = f"cnipod{uuid.uuid4().hex[:6]}"
        self.net_d = tmp / "net.d"
        self.net_d.mkdir()
        (tmp / "containers.conf").write_text(
            "[network]\n"
            'network_backend = "cni"\n'
            f'cni_plugin_dirs = ["{our_bin}"]\n'
            f'network_config_dir = "{self.net_d}"\n'
            # This machine's bounding set lacks CAP_SYS_RESOURCE: limits may only go down.
            "[containers]\n"
            'default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{tmp}/events.log"\n'
            f'tmp_dir = "{tmp}/tmp"\n'
        )
        (tmp / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\nrunroot = "{tmp}/run"\ngraphroot = "{tmp}/storage"\n'
        )
        # A mount namespace that outlives each command, held by a bind mount in tmp.
        self.holder = tmp / "mnt"
        self.holder.mkdir()
        subprocess.run(["mount", "--bind", str(self.holder), str(self.holder)], check=True)
        subprocess.run(["mount", "--make-private", str(self.holder)], check=True)
        self.mntns = self.holder / "ns"
        self.mntns.touch()
        subprocess.run(["unshare", f"--mount={self.mntns}", "--propagation", "private", "true"], check=True)
        # crun refuses a hybrid cgroup setup whose cgroup2 mount has controllers (this VM's);
        # inside our mount namespace only, the v1 hierarchy alone remains.
        if Path("/sys/fs/cgroup/unified").is_mount():
            subprocess.run(["nsenter", f"--mount={self.mntns}", "umount", "/sys/fs/cgroup/unified"], check=False)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.tmp / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.tmp / "storage.conf"),
        }

    def inside(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--mount={self.mntns}", f"--net=/var/run/netns/{self.node}", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )

    def __call__(self, *args: str) -> str:
        out = self.inside("podman", *args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def close(self) -> None:
        self.inside("podman", "rm", "-af", "-t", "0")
        self.inside("podman", "network", "rm", "-f", self.network)
        subprocess.run(["umount", str(self.mntns)], capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(self.holder)], capture_output=True, check=False)
        for kind in ("portmap", "firewall", "ipmasq"):
            shutil.rmtree(f"/run/cni/{kind}/{self.network}", ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> Iterator[tuple[Podman, str]]:
    node, outside = make_netns("pdnode"), make_netns("pdout")
    wire_outside(node, outside)
    pm = Podman(tmp_path, node, our_bin)
    try:
        rootfs = tmp_path / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        (rootfs / "www").mkdir()
        (rootfs / "www" / "index.html").write_text("hello from our plugins\n")
        shutil.copy(shutil.which("busybox") or "", rootfs / "bin" / "busybox")
        for tool in ("sh", "httpd", "ip", "cat"):
            (rootfs / "bin" / tool).symlink_to("busybox")
        tarball = tmp_path / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        pm("import", str(tarball), "localhost/cnitest:latest")
        yield pm, outside
    finally:
        pm.close()


def http_get(netns: str, host: str, port: int) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "python3", "-c", HTTP_GET, host, str(port)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return out.stdout.strip()


def test_podman_default_network_on_our_plugins(podman: tuple[Podman, str]) -> None:
    pm, outside = podman
    pm("network", "create", "--subnet", "10.89.0.0/24", pm.network)
    conflist = json.loads(next(pm.net_d.glob("*.conflist")).read_text())
    types = [p["type"] for p in conflist["plugins"]]
    assert types == ["bridge", "portmap", "firewall", "tuning"], types
    assert conflist["plugins"][0]["ipMasq"] is True
    # host-local's store under the test's directory rather than the machine's /var/lib/cni.
    conflist["plugins"][0]["ipam"]["dataDir"] = str(pm.tmp / "ipam")
    next(pm.net_d.glob("*.conflist")).write_text(json.dumps(conflist))

    cid = pm(
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        pm.network,
        "-p",
        "8080:80",
        "localhost/cnitest:latest",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ).strip()
    for where in ((pm.node, NODE), (pm.node, "127.0.0.1"), (outside, NODE)):
        assert http_get(where[0], where[1], 8080) == "hello from our plugins", where
    assert mentions(ruleset(pm.node), cid)

    pm("restart", "-t", "0", "web")
    assert http_get(outside, NODE, 8080) == "hello from our plugins"
    pm("network", "reload", "web")
    assert http_get(outside, NODE, 8080) == "hello from our plugins"

    pm("rm", "-f", "-t", "0", "web")
    rules = ruleset(pm.node)
    assert not mentions(rules, cid)
    assert "10.89.0." not in rules.replace("10.89.0.0/24", "")
    assert http_get(outside, NODE, 8080) == ""
    links = subprocess.run(["ip", "-n", pm.node, "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "veth" not in links
    store = pm.tmp / "ipam" / pm.network
    assert not [f for f in os.listdir(store) if f[0].isdigit()] if store.exists() else True
    cached = (
        [p for p in Path("/var/lib/cni/results").glob(f"{pm.network}-*")]
        if Path("/var/lib/cni/results").exists()
        else []
    )
    assert cached == []
