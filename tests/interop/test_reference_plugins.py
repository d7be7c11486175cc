# SPDX-License-Identifier: Apache-2.0
"""Our runtime library drives Debian's reference plugins, side by side with real libcni.

Each runtime gets its own throwaway node namespace (where the bridge, iptables rules and
sysctls live) and its own pod namespace; the same conflist goes through both, and the
results and the kernel state they leave must match once names with random parts and MACs
are normalised. Kernel state is read with pyroute2 and iptables-save, not our own code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE_PLUGINS

pytestmark = [
    pytest.mark.interop,
    pytest.mark.netns,
    pytest.mark.skipif(not (REFERENCE_PLUGINS / "bridge").exists(), reason="needs containernetworking-plugins"),
]

CAP_ARGS = {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}


def conflist(data_dir: Path, portmap: bool = True) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "refnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cnitest0",
                "isGateway": True,
                "ipMasq": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.77.0.0/24"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(data_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
        ],
    }
    if not portmap:
        del conf["plugins"][1]
    return conf


class Side:
    """One runtime's world: node and pod namespaces, config, cache and IPAM directories."""

    def __init__(self, label: str, tmp: Path, make_netns: Callable[[str], str], portmap: bool = True) -> None:
        self.node = make_netns(f"{label}node")
        self.pod = make_netns(f"{label}pod")
        self.pod_path = f"/var/run/netns/{self.pod}"
        self.root = tmp / label
        self.conf_dir = self.root / "net.d"
        self.conf_dir.mkdir(parents=True)
        self.cache = self.root / "cache"
        self.ipam = self.root / "ipam"
        self.conf_file = self.conf_dir / "10-refnet.conflist"
        self.conf_file.write_text(json.dumps(conflist(self.ipam, portmap)))

    def in_node(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", self.node, *argv],
            capture_output=True,
            check=False,
            timeout=120,
            env={**os.environ, **(env or {})},
        )

    def reservations(self) -> list[str]:
        directory = self.ipam / "refnet"
        if not directory.exists():
            return []
        return sorted(f for f in os.listdir(directory) if not f.startswith(("lock", "last_reserved_ip")))


class Ours(Side):
    def run(
        self, verb: str, cid: str = "c1", *extra: str, pod: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        args = [sys.executable, "-m", "cni.cli", verb, "refnet"]
        if verb in ("add", "check", "del"):
            args += [pod or self.pod_path, "--container-id", cid, "--cap-args", json.dumps(CAP_ARGS)]
        args += [
            "--conf-dir",
            str(self.conf_dir),
            "--cni-path",
            str(REFERENCE_PLUGINS),
            "--cache-dir",
            str(self.cache),
            "--json",
            *extra,
        ]
        return self.in_node(args)


class Go(Side):
    def __init__(self, driver: Path, *args: Any) -> None:
        super().__init__(*args)
        self.driver = driver

    def run(self, verb: str, cid: str = "c1") -> subprocess.CompletedProcess[bytes]:
        return self.in_node(
            [str(self.driver), verb, str(self.conf_file), self.pod_path, cid, "eth0", str(self.cache)],
            env={"CNI_PATH": str(REFERENCE_PLUGINS), "CAP_ARGS": json.dumps(CAP_ARGS)},
        )


def ok(out: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert out.returncode == 0, (out.stdout.decode(), out.stderr.decode())
    data: dict[str, Any] = json.loads(out.stdout)
    return data


MAC = re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b")


def normalise_result(result: dict[str, Any]) -> dict[str, Any]:
    text = MAC.sub("<mac>", json.dumps(result, sort_keys=True))
    text = re.sub(r'"veth[0-9a-f]+"', '"<veth>"', text)
    text = re.sub(r"/var/run/netns/cnit-[a-z]+pod-[0-9a-f]+", "<pod>", text)
    data: dict[str, Any] = json.loads(text)
    # Go prints an empty "dns": {} that we omit; both mean "no DNS settings".
    if data.get("dns") == {}:
        del data["dns"]
    return data


def pod_state(side: Side) -> dict[str, Any]:
    from pyroute2 import NetNS

    with NetNS(side.pod) as ns:
        links = {link.get_attr("IFLA_IFNAME"): link for link in ns.get_links()}
        eth0 = links.get("eth0")
        if eth0 is None:
            return {"links": sorted(links)}
        addrs = sorted(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ns.get_addr(index=eth0["index"])
            if a["family"] == 2
        )
        routes = sorted(
            (r.get_attr("RTA_DST") or "default", r["dst_len"], r.get_attr("RTA_GATEWAY") or "")
            for r in ns.get_routes(family=2, table=254)
        )
        return {"links": sorted(links), "eth0": addrs, "routes": routes}


def node_state(side: Side) -> dict[str, Any]:
    from pyroute2 import NetNS

    with NetNS(side.node) as ns:
        bridges = [link for link in ns.get_links() if link.get_attr("IFLA_IFNAME") == "cnitest0"]
        addrs = []
        if bridges:
            addrs = sorted(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in ns.get_addr(index=bridges[0]["index"])
                if a["family"] == 2
            )
        ports = sorted(
            link.get_attr("IFLA_IFNAME")[:4]
            for link in ns.get_links()
            if link.get_attr("IFLA_MASTER") == (bridges[0]["index"] if bridges else -1)
        )
    rules = side.in_node(["iptables-save"]).stdout.decode()
    kept = sorted(re.sub(r"\[\d+:\d+\]", "", line) for line in rules.splitlines() if line and not line.startswith("#"))
    return {"bridge": bool(bridges), "bridge_addrs": addrs, "ports": ports, "iptables": kept}


@pytest.fixture
def sides(tmp_path: Path, make_netns: Callable[[str], str], go_driver: Path) -> tuple[Ours, Go]:
    return Ours("ours", tmp_path, make_netns), Go(go_driver, "go", tmp_path, make_netns)


def test_add_check_del_match_libcni(sides: tuple[Ours, Go]) -> None:
    ours, go = sides
    our_result = ok(ours.run("add"))
    go_result = ok(go.run("add"))
    assert normalise_result(our_result) == normalise_result(go_result)
    assert our_result["ips"][0]["address"] == "10.77.0.2/24"
    assert [i["name"] for i in our_result["interfaces"]][::2] == ["cnitest0", "eth0"]

    assert pod_state(ours) == pod_state(go)
    assert pod_state(ours)["eth0"] == ["10.77.0.2/24"]
    assert node_state(ours) == node_state(go)
    state = node_state(ours)
    assert state["bridge_addrs"] == ["10.77.0.1/24"]
    assert any("CNI-HOSTPORT-DNAT" in rule for rule in state["iptables"])
    assert any("--dport 18080" in rule for rule in state["iptables"])
    assert ours.reservations() == go.reservations() == ["10.77.0.2"]

    # Debian's portmap 1.1.1 fails CHECK on IPv4-only pods (plugins#819, fixed upstream):
    # what matters here is that both runtimes get the same answer.
    our_check, go_check = ours.run("check"), go.run("check")
    assert our_check.returncode == go_check.returncode == 1
    assert json.loads(our_check.stdout)["msg"] == json.loads(go_check.stdout)["error"]
    assert "could not check ipv6 dnat" in json.loads(our_check.stdout)["msg"]

    ok(ours.run("del"))
    ok(go.run("del"))
    assert pod_state(ours) == pod_state(go) == {"links": ["lo"]}
    assert node_state(ours) == node_state(go)
    assert not any("18080" in rule for rule in node_state(ours)["iptables"])
    assert ours.reservations() == go.reservations() == []
    assert os.listdir(ours.cache / "results") == []
    # DEL again: the attachment is gone, the plugins and we still succeed.
    ok(ours.run("del"))


def test_check_passes_then_fails_when_the_container_lost_its_address(
    tmp_path: Path, make_netns: Callable[[str], str]
) -> None:
    ours = Ours("chk", tmp_path, make_netns, portmap=False)
    ok(ours.run("add"))
    ok(ours.run("check"))
    subprocess.run(["ip", "-n", ours.pod, "addr", "flush", "dev", "eth0"], check=True)
    out = ours.run("check")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] != 0
    ok(ours.run("del"))


def test_gc_releases_what_missed_dels_left(sides: tuple[Ours, Go], make_netns: Callable[[str], str]) -> None:
    ours, _ = sides
    lost_pod = make_netns("lostpod")
    ok(ours.run("add", "keep"))
    ok(ours.run("add", "lost", pod=f"/var/run/netns/{lost_pod}"))
    assert ours.reservations() == ["10.77.0.2", "10.77.0.3"]
    ok(ours.run("gc", "", "--valid", "keep/eth0"))
    assert ours.reservations() == ["10.77.0.2"]
    assert sorted(os.listdir(ours.cache / "results")) == ["refnet-keep-eth0"]
    rules = node_state(ours)["iptables"]
    assert sum("--dport 18080" in r and "-j DNAT" in r for r in rules) == 1, (
        "the lost attachment's port mapping is gone"
    )
    from pyroute2 import NetNS

    with NetNS(lost_pod) as ns:
        assert [link.get_attr("IFLA_IFNAME") for link in ns.get_links()] == ["lo"]
    ok(ours.run("del", "keep"))


def test_del_after_the_pod_namespace_is_gone(sides: tuple[Ours, Go]) -> None:
    """DEL still reaches every plugin when the netns has vanished, so IPAM releases."""
    ours, go = sides
    ok(ours.run("add"))
    ok(go.run("add"))
    for side in (ours, go):
        subprocess.run(["ip", "netns", "del", side.pod], check=True)
    ok(ours.run("del"))
    ok(go.run("del"))
    assert ours.reservations() == go.reservations() == []
    assert node_state(ours) == node_state(go)
    assert not any("18080" in rule for rule in node_state(ours)["iptables"])
    assert os.listdir(ours.cache / "results") == []
