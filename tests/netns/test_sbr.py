# SPDX-License-Identifier: Apache-2.0
"""The sbr plugin on a dual-stack pod interface: the rules and tables it makes (the same
as the reference's), `table`, `gateways` and `addSourceHints`, DEL putting the main table
back, CHECK after a deliberate change, refusals that change nothing, kills at any point of
ADD, and either implementation's DEL after the other's ADD."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS, cni_env
from tests.support.faults import kill_at_each_point, plugin_runner
from tests.support.observe import kernel
from tests.support.world import failed, ok, succeeded

pytestmark = pytest.mark.netns


class Pod:
    """A pod namespace whose eth0 (a veth to the node) has 10.1.0.2/24 and fd00::2/64 with
    default routes, as an interface plugin leaves it; runs of an sbr plugin on it."""

    def __init__(self, make_netns: Callable[[str], str], tmp: Path, plugins: Path, label: str = "sbr") -> None:
        self.node = make_netns(f"{label}node")
        self.netns = make_netns(f"{label}pod")
        self.path = f"/var/run/netns/{self.netns}"
        self.plugins = plugins
        self.data = tmp / f"{label}-data"
        for ifname, host in (("eth0", "veth0"), ("net1", "veth1")):
            self.ip("link", "add", ifname, "type", "veth", "peer", "name", host, "netns", self.node)
            self.ip("link", "set", ifname, "up")
        self.ip("addr", "add", "10.1.0.2/24", "dev", "eth0")
        self.ip("addr", "add", "fd00::2/64", "dev", "eth0", "nodad")
        self.ip("route", "add", "default", "via", "10.1.0.1", "dev", "eth0")
        self.ip("-6", "route", "add", "default", "via", "fd00::1", "dev", "eth0")
        self.ip("addr", "add", "10.2.0.2/24", "dev", "net1")

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.netns, *args], check=True)

    def conf(self, ifname: str = "eth0", version: str = "1.0.0", **keys: Any) -> dict[str, Any]:
        ips = (
            [
                {"address": "10.1.0.2/24", "gateway": "10.1.0.1", "interface": 0},
                {"address": "fd00::2/64", "gateway": "fd00::1", "interface": 0},
            ]
            if ifname == "eth0"
            else [{"address": "10.2.0.2/24", "gateway": "10.2.0.1", "interface": 0}]
        )
        prev = {"cniVersion": version, "interfaces": [{"name": ifname, "sandbox": self.path}], "ips": ips}
        return {
            "cniVersion": version,
            "name": "sbrnet",
            "type": "sbr",
            "dataDir": str(self.data),
            **keys,
            "prevResult": prev,
        }

    def env(self, command: str, ifname: str = "eth0") -> dict[str, str]:
        return cni_env(command, netns=self.path, ifname=ifname, path=self.plugins)

    def run(self, command: str, conf: dict[str, Any], ifname: str = "eth0") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", self.node, str(self.plugins / "sbr")],
            input=json.dumps(conf).encode(),
            env=self.env(command, ifname),
            capture_output=True,
            timeout=60,
            check=False,
        )

    def state(self) -> dict[str, Any]:
        return kernel(self.netns)

    def records(self) -> list[str]:
        directory = self.data / "sbrnet"
        return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def pod(make_netns: Callable[[str], str], tmp_path: Path, our_bin: Path) -> Pod:
    return Pod(make_netns, tmp_path, our_bin)


def rules(state: dict[str, Any]) -> list[str]:
    return [r for r in state["rules"] if "table 25" not in r]


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_check_del(pod: Pod, version: str) -> None:
    before = pod.state()
    conf = pod.conf(version=version)
    result = ok(pod.run("ADD", conf))
    assert [ip["address"] for ip in result["ips"]] == ["10.1.0.2/24", "fd00::2/64"]
    state = pod.state()
    assert rules(state) == [
        "10 32765 table 101 from fd00::2/128 to None/0",
        "2 32765 table 100 from 10.1.0.2/32 to None/0",
    ]
    tables = [r for r in state["routes"] if "dev eth0" in r and not r.startswith("table 255")]
    assert tables == sorted(
        [
            "table 100 default/0 via 10.1.0.1 dev eth0",
            "table 100 10.1.0.0/24 via None dev eth0",
            "table 100 fd00::/64 via None dev eth0",  # the reference copies the link's routes of both families
            "table 101 fd00::/64 via None dev eth0",
            "table 101 default/0 via fd00::1 dev eth0",
        ]
    )
    if version >= "0.4.0":
        succeeded(pod.run("CHECK", {**conf, "prevResult": result}))
    succeeded(pod.run("DEL", conf))
    assert pod.state() == before
    assert pod.records() == []
    succeeded(pod.run("DEL", conf))


def test_each_interface_gets_its_own_tables_and_dels_alone(pod: Pod) -> None:
    before = pod.state()
    ok(pod.run("ADD", pod.conf()))
    after_first = pod.state()
    ok(pod.run("ADD", pod.conf("net1"), ifname="net1"))
    assert "2 32764 table 102 from 10.2.0.2/32 to None/0" in pod.state()["rules"]
    succeeded(pod.run("DEL", pod.conf("net1"), ifname="net1"))
    assert pod.state() == after_first
    succeeded(pod.run("DEL", pod.conf()))
    assert pod.state() == before


def test_a_given_table_gets_rules_only(pod: Pod) -> None:
    before = pod.state()
    ok(pod.run("ADD", pod.conf(table=500)))
    state = pod.state()
    assert rules(state) == [
        "10 32765 table 500 from fd00::2/128 to None/0",
        "2 32765 table 500 from 10.1.0.2/32 to None/0",
    ]
    assert state["routes"] == before["routes"]
    succeeded(pod.run("DEL", pod.conf(table=500)))
    assert pod.state() == before


def test_static_gateways_and_source_hints(pod: Pod) -> None:
    before = pod.state()
    conf = pod.conf(gateways=["10.1.0.254", "fd00::fe"], addSourceHints=True)
    ok(pod.run("ADD", conf))
    state = pod.state()
    assert "table 100 default/0 via 10.1.0.254 dev eth0" in state["routes"]
    assert "table 101 default/0 via fd00::fe dev eth0" in state["routes"]
    main = [r for r in state["routes"] if r.startswith("table 254") and "eth0" in r]
    # The subnet routes stay in main, with the address as their source; the defaults leave.
    assert main == ["table 254 10.1.0.0/24 via None dev eth0", "table 254 fd00::/64 via None dev eth0"]
    out = subprocess.run(["ip", "-n", pod.netns, "route", "show", "10.1.0.0/24"], capture_output=True, text=True)
    assert "src 10.1.0.2" in out.stdout
    succeeded(pod.run("DEL", conf))
    assert pod.state() == before


@pytest.mark.parametrize(
    "change",
    [
        ["ip", "rule", "del", "from", "10.1.0.2", "lookup", "100"],
        ["ip", "route", "del", "default", "table", "100"],
    ],
)
def test_check_fails_after_a_change(pod: Pod, change: list[str]) -> None:
    conf = pod.conf()
    result = ok(pod.run("ADD", conf))
    subprocess.run(["ip", "-n", pod.netns, *change[1:]], check=True)
    assert "sbr" in failed(pod.run("CHECK", {**conf, "prevResult": result}), 999)
    succeeded(pod.run("DEL", conf))


BAD = [
    ({"table": 0}, "table"),
    ({"table": 254}, "table"),
    ({"table": "100"}, "table"),
    ({"table": -1}, "table"),
    ({"gateways": ["nope"]}, "gateways"),
    ({"gateways": ["10.0.0.1", "10.0.0.2"]}, "one IPv4"),
    ({"gateways": "10.0.0.1"}, "gateways"),
    ({"addSourceHints": "yes"}, "addSourceHints"),
    ({"dataDir": ""}, "dataDir"),
    ({"prevResult": None}, "prevResult"),
    (
        {
            "prevResult": {
                "cniVersion": "1.0.0",
                "interfaces": [{"name": "eth9"}],
                "ips": [{"address": "10.9.0.2/24", "interface": 0}],
            }
        },
        "no address on eth0",
    ),
]


@pytest.mark.parametrize(("keys", "named"), BAD, ids=[json.dumps(k)[:50] for k, _ in BAD])
def test_bad_values_are_refused_and_change_nothing(pod: Pod, keys: dict[str, Any], named: str) -> None:
    before = pod.state()
    conf = {**pod.conf(), **keys}
    if conf["prevResult"] is None:
        del conf["prevResult"]
    assert named in failed(pod.run("ADD", conf), 7)
    assert pod.state() == before
    assert pod.records() == []


def test_del_when_the_netns_is_gone_and_gc(pod: Pod) -> None:
    ok(pod.run("ADD", pod.conf()))
    ok(pod.run("ADD", pod.conf("net1"), ifname="net1"))
    gc = {**pod.conf(version="1.1.0"), "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]}
    del gc["prevResult"]
    succeeded(pod.run("GC", gc))
    assert pod.records() == ["c1_eth0.json"]
    subprocess.run(["ip", "netns", "del", pod.netns], check=True)
    succeeded(pod.run("DEL", pod.conf()))
    assert pod.records() == []


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (fault injection)")
def test_killed_at_any_point_of_add_then_del_restores_everything(pod: Pod, our_bin: Path) -> None:
    conf = pod.conf(addSourceHints=True)
    run = plugin_runner(pod.node, our_bin / "sbr", json.dumps(conf).encode(), pod.env("ADD"), our_bin)
    before = pod.state()

    def after(syscall: str, n: int) -> None:
        succeeded(pod.run("DEL", conf))
        assert pod.state() == before, (syscall, n)
        assert pod.records() == [], (syscall, n)

    assert kill_at_each_point(run, ("sendto", "rename"), after, most=60) > 5


# --- beside the reference ---------------------------------------------------------------------------


@pytest.fixture
def reference(make_netns: Callable[[str], str], tmp_path: Path) -> Pod:
    if not (REFERENCE_PLUGINS / "sbr").exists():
        pytest.skip("needs containernetworking-plugins")
    return Pod(make_netns, tmp_path, REFERENCE_PLUGINS, label="sbrref")


def test_same_rules_and_routes_as_the_reference(pod: Pod, reference: Pod) -> None:
    ok(pod.run("ADD", pod.conf()))
    ok(reference.run("ADD", reference.conf()))
    assert pod.state() == reference.state()
    ok(pod.run("ADD", pod.conf("net1"), ifname="net1"))
    ok(reference.run("ADD", reference.conf("net1"), ifname="net1"))
    assert pod.state() == reference.state()


def test_either_del_after_the_others_add(pod: Pod, reference: Pod, our_bin: Path) -> None:
    """The reference's DEL removes the rules only (the interface plugin's DEL takes the
    routes with the link); ours, without a record of the reference's ADD, does as it does."""
    ok(reference.run("ADD", reference.conf()))
    reference.plugins = our_bin
    succeeded(reference.run("DEL", reference.conf()))
    assert rules(reference.state()) == []
    ok(pod.run("ADD", pod.conf()))
    pod.plugins = REFERENCE_PLUGINS
    succeeded(pod.run("DEL", pod.conf()))
    assert rules(pod.state()) == []
