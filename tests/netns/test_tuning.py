# SPDX-License-Identifier: Apache-2.0
"""The tuning plugin on a pod's interface: sysctls and link settings applied, checked and
restored (sysctls too), records that survive a kill at any point of ADD, the allowlist,
GC, and the reference's tuning on the same records and kernel state."""

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
from tests.support.world import World, failed, ok, succeeded

pytestmark = pytest.mark.netns

MAC = "02:11:22:33:44:55"
SYSCTLS = {"net.ipv4.conf.IFNAME.rp_filter": "2", "net.ipv4.ping_group_range": "0 1000"}
WATCHED = ("net/ipv4/conf/eth0/rp_filter", "net/ipv4/ping_group_range", "net/ipv4/conf/eth0/arp_notify")
IFF_PROMISC, IFF_ALLMULTI = 0x100, 0x200


class Pod:
    """A node namespace and a pod namespace whose eth0 is one end of a veth pair (what an
    interface plugin left for tuning), and runs of a tuning plugin against it."""

    def __init__(self, make_netns: Callable[[str], str], tmp: Path, plugins: Path, label: str = "tun") -> None:
        self.node = make_netns(f"{label}node")
        self.netns = make_netns(f"{label}pod")
        self.path = f"/var/run/netns/{self.netns}"
        self.plugins = plugins
        self.data = tmp / f"{label}-data"
        subprocess.run(
            ["ip", "-n", self.netns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"], check=True
        )
        subprocess.run(["ip", "-n", self.netns, "link", "set", "eth0", "up"], check=True)

    def conf(self, version: str = "1.0.0", **keys: Any) -> dict[str, Any]:
        prev: dict[str, Any] = {
            "cniVersion": version,
            "interfaces": [{"name": "eth0", "sandbox": self.path, "mac": self.links()["eth0"]["mac"]}],
            "ips": [{"address": "10.1.0.2/24", "interface": 0}],
        }
        if version < "0.3.0":
            prev = {"cniVersion": version, "ip4": {"ip": "10.1.0.2/24"}}
        return {
            "cniVersion": version,
            "name": "tunnet",
            "type": "tuning",
            "dataDir": str(self.data),
            **keys,
            "prevResult": prev,
        }

    def env(self, command: str, cid: str = "c1", args: str = "") -> dict[str, str]:
        return cni_env(command, container_id=cid, netns=self.path, path=self.plugins, args=args)

    def run(
        self, command: str, conf: dict[str, Any], cid: str = "c1", args: str = "", wrapper: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", self.node, *wrapper, str(self.plugins / "tuning")],
            input=json.dumps(conf).encode(),
            env=self.env(command, cid, args),
            capture_output=True,
            timeout=60,
            check=False,
        )

    def links(self) -> dict[str, dict[str, Any]]:
        from pyroute2 import NetNS

        with NetNS(self.netns) as ns:
            return {
                link.get_attr("IFLA_IFNAME"): {
                    "mac": link.get_attr("IFLA_ADDRESS"),
                    "mtu": link.get_attr("IFLA_MTU"),
                    "promisc": bool(link["flags"] & IFF_PROMISC),
                    "allmulti": bool(link["flags"] & IFF_ALLMULTI),
                    "txqlen": link.get_attr("IFLA_TXQLEN"),
                }
                for link in ns.get_links()
            }

    def sysctls(self) -> dict[str, str]:
        out = subprocess.run(
            ["ip", "netns", "exec", self.netns, "cat", *(f"/proc/sys/{k}" for k in WATCHED)],
            capture_output=True,
            check=True,
        )
        return dict(zip(WATCHED, out.stdout.decode().splitlines(), strict=True))

    def records(self) -> list[str]:
        return sorted(p.name for p in self.data.iterdir()) if self.data.exists() else []

    def state(self) -> dict[str, Any]:
        return {"links": self.links(), "sysctls": self.sysctls(), "records": self.records()}


@pytest.fixture
def pod(make_netns: Callable[[str], str], tmp_path: Path, our_bin: Path) -> Pod:
    return Pod(make_netns, tmp_path, our_bin)


FULL: dict[str, Any] = {"sysctl": SYSCTLS, "mac": MAC, "mtu": 1400, "promisc": True, "allmulti": True, "txQLen": 2000}


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_check_del_restores_everything(pod: Pod, version: str) -> None:
    before = pod.state()
    conf = pod.conf(version, **FULL)
    result = ok(pod.run("ADD", conf))
    assert result["cniVersion"] == version
    if version >= "0.3.0":
        assert result["interfaces"][0]["mac"] == MAC
        assert [ip["address"] for ip in result["ips"]] == ["10.1.0.2/24"]
    eth0 = pod.links()["eth0"]
    assert eth0 == {"mac": MAC, "mtu": 1400, "promisc": True, "allmulti": True, "txqlen": 2000}
    sysctls = pod.sysctls()
    assert sysctls["net/ipv4/conf/eth0/rp_filter"] == "2"
    assert sysctls["net/ipv4/ping_group_range"].split() == ["0", "1000"]  # read back with a tab
    assert pod.records() == ["c1_eth0.json"]
    if version >= "0.4.0":
        succeeded(pod.run("CHECK", {**conf, "prevResult": result}))
    succeeded(pod.run("DEL", conf))
    assert pod.state() == before
    succeeded(pod.run("DEL", conf))  # idempotent


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["ip", "link", "set", "eth0", "mtu", "1500"], "mtu"),
        (["ip", "link", "set", "eth0", "address", "02:00:00:00:00:09"], "mac"),
        (["ip", "link", "set", "eth0", "promisc", "off"], "promisc"),
        (["ip", "link", "set", "eth0", "txqueuelen", "10"], "txQLen"),
        (["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/rp_filter"], "rp_filter"),
    ],
)
def test_check_fails_after_a_change(pod: Pod, change: list[str], named: str) -> None:
    conf = pod.conf(**FULL)
    result = ok(pod.run("ADD", conf))
    succeeded(pod.run("CHECK", {**conf, "prevResult": result}))
    subprocess.run(["ip", "netns", "exec", pod.netns, *change], check=True)
    assert named in failed(pod.run("CHECK", {**conf, "prevResult": result}), 999)
    succeeded(pod.run("DEL", conf))


BAD = [
    ({"sysctl": ["net.ipv4.ip_forward"]}, "sysctl"),
    ({"sysctl": {"net.ipv4.conf.IFNAME.rp_filter": 2}}, "must be a string"),
    ({"sysctl": {"kernel.core_pattern": "|/tmp/x"}}, "kernel.core_pattern"),
    ({"sysctl": {"net/../../kernel/core_pattern": "|/tmp/x"}}, "not a network sysctl"),
    ({"sysctl": {"net.ipv4.conf.IFNAME.no_such_thing": "1"}}, "no such sysctl"),
    ({"sysctl": {"net.ipv4.conf.IFNAME.rp_filter": "2", "net/ipv4/conf/IFNAME/rp_filter": "1"}}, "same file"),
    # Written after a sysctl that must then go back to its value.
    ({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1", "net.ipv4.conf.IFNAME.rp_filter": "abc"}}, "refused"),
    ({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}, "mtu": 10}, "refused the settings"),
    ({"mac": "zz:11:22:33:44:55"}, "mac"),
    ({"mac": 5}, "mac"),
    ({"mtu": -1}, "mtu"),
    ({"mtu": 70000}, "mtu"),
    ({"mtu": "1400"}, "mtu"),
    ({"promisc": "yes"}, "promisc"),
    ({"allmulti": 1}, "allmulti"),
    ({"txQLen": -1}, "txQLen"),
    ({"dataDir": ""}, "dataDir"),
    ({"args": {"cni": {"mtu": "x"}}}, "args.cni.mtu"),
    ({"args": {"cni": {"sysctl": {"kernel.hostname": "x"}}}}, "kernel.hostname"),
    ({"runtimeConfig": {"mac": "nope"}}, "runtimeConfig.mac"),
]


@pytest.mark.parametrize(("keys", "named"), BAD, ids=[json.dumps(k)[:60] for k, _ in BAD])
def test_bad_values_are_refused_and_change_nothing(pod: Pod, keys: dict[str, Any], named: str) -> None:
    canary = Path("/proc/sys/kernel/core_pattern").read_text()
    before = pod.state()
    assert named in failed(pod.run("ADD", pod.conf(**keys)), 7)
    assert pod.state() == before
    assert Path("/proc/sys/kernel/core_pattern").read_text() == canary


def test_a_crafted_ifname_cannot_leave_proc_sys_net(pod: Pod) -> None:
    conf = pod.conf(sysctl={"net.ipv4.conf.IFNAME.rp_filter": "2"})
    out = subprocess.run(
        ["ip", "netns", "exec", pod.node, str(pod.plugins / "tuning")],
        input=json.dumps(conf).encode(),
        env={**pod.env("ADD"), "CNI_IFNAME": ".."},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert "CNI_IFNAME" in failed(out, 4)


def test_mac_from_each_source_by_the_references_precedence(pod: Pod) -> None:
    conf = pod.conf(mac="02:00:00:00:00:01")
    args = "IgnoreUnknown=1;MAC=02:00:00:00:00:02"
    assert ok(pod.run("ADD", conf, args=args))["interfaces"][0]["mac"] == "02:00:00:00:00:02"
    succeeded(pod.run("DEL", conf))
    conf["runtimeConfig"] = {"mac": "02:00:00:00:00:03"}
    assert ok(pod.run("ADD", conf, args=args))["interfaces"][0]["mac"] == "02:00:00:00:00:03"
    succeeded(pod.run("DEL", conf))
    conf["args"] = {"cni": {"mac": "02:00:00:00:00:04", "mtu": 1300}}
    assert ok(pod.run("ADD", conf, args=args))["interfaces"][0]["mac"] == "02:00:00:00:00:04"
    assert pod.links()["eth0"]["mtu"] == 1300
    succeeded(pod.run("DEL", conf))


def test_a_repeated_add_keeps_the_values_from_before_the_first(pod: Pod) -> None:
    before = pod.state()
    first = pod.conf(sysctl={"net.ipv4.conf.IFNAME.rp_filter": "2"}, mtu=1400)
    ok(pod.run("ADD", first))
    ok(pod.run("ADD", pod.conf(sysctl={"net.ipv4.conf.IFNAME.rp_filter": "1"}, mtu=1300, mac=MAC)))
    succeeded(pod.run("DEL", first))
    assert pod.state() == before


def test_del_when_the_interface_or_the_netns_is_gone(pod: Pod) -> None:
    conf = pod.conf(**FULL)
    ok(pod.run("ADD", conf))
    subprocess.run(["ip", "-n", pod.netns, "link", "del", "eth0"], check=True)
    succeeded(pod.run("DEL", conf))
    assert pod.records() == []
    subprocess.run(["ip", "-n", pod.netns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"], check=True)
    ok(pod.run("ADD", conf))
    subprocess.run(["ip", "netns", "del", pod.netns], check=True)
    succeeded(pod.run("DEL", conf))
    assert pod.records() == []


def test_add_needs_prev_result_and_the_interface(pod: Pod) -> None:
    conf = pod.conf(mtu=1400)
    del conf["prevResult"]
    assert "prevResult" in failed(pod.run("ADD", conf), 7)
    out = subprocess.run(
        ["ip", "netns", "exec", pod.node, str(pod.plugins / "tuning")],
        input=json.dumps(pod.conf(mtu=1400)).encode(),
        env={**pod.env("ADD"), "CNI_IFNAME": "eth9"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert "eth9" in failed(out, 999)
    assert pod.records() == []


def test_gc_drops_the_records_of_lost_attachments_of_its_network(pod: Pod) -> None:
    for cid in ("keep", "lost"):
        ok(pod.run("ADD", pod.conf(mtu=1400), cid=cid))
    ok(pod.run("ADD", {**pod.conf(mtu=1400), "name": "othernet"}, cid="other"))
    # A record the reference wrote: it names no network, so no network's GC may take it.
    (pod.data / "ref_eth0.json").write_text('{"mtu": 1500}')
    gc = {**pod.conf("1.1.0"), "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]}
    del gc["prevResult"]
    succeeded(pod.run("GC", gc))
    assert pod.records() == ["keep_eth0.json", "other_eth0.json", "ref_eth0.json"]


def test_status_is_ready(pod: Pod) -> None:
    conf = pod.conf("1.1.0")
    del conf["prevResult"]
    succeeded(pod.run("STATUS", conf))


# --- the allowlist, in a mount namespace whose /etc/cni is the test's own -------------------------


@pytest.fixture
def allowlist(tmp_path: Path) -> Path:
    """A file that stands in for /etc/cni/tuning/allowlist.conf inside `in_own_etc`."""
    etc = tmp_path / "etc-cni"
    (etc / "tuning").mkdir(parents=True)
    return etc / "tuning" / "allowlist.conf"


def in_own_etc(allowlist: Path) -> tuple[str, ...]:
    etc = allowlist.parent.parent
    script = f'mount --bind "{etc}" /etc/cni && exec "$@"'
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh")


def test_the_allowlist_is_honoured(pod: Pod, allowlist: Path) -> None:
    allowlist.write_text("^net\\.ipv4\\.conf\\.IFNAME\\.rp_filter$\n\n  net.ipv4.ping_group_range  \n")
    wrapper = in_own_etc(allowlist)
    conf = pod.conf(sysctl=SYSCTLS)
    ok(pod.run("ADD", conf, wrapper=wrapper))
    succeeded(pod.run("DEL", conf, wrapper=wrapper))
    before = pod.state()
    refused = pod.conf(sysctl={**SYSCTLS, "net.ipv4.conf.IFNAME.arp_notify": "1"})
    assert "not allowed" in failed(pod.run("ADD", refused, wrapper=wrapper), 7)
    assert pod.state() == before
    allowlist.write_text("net.ipv4.(\n")
    assert "regular expression" in failed(pod.run("ADD", conf, wrapper=wrapper), 50)
    status = pod.conf("1.1.0")
    del status["prevResult"]
    assert "allowlist" in failed(pod.run("STATUS", status, wrapper=wrapper), 50)
    assert pod.state() == before


# --- kills at every point of ADD ------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (fault injection)")
def test_killed_at_any_point_of_add_then_del_restores_everything(pod: Pod, our_bin: Path) -> None:
    conf = pod.conf(**FULL)
    stdin = json.dumps(conf).encode()
    run = plugin_runner(pod.node, our_bin / "tuning", stdin, pod.env("ADD"), our_bin)
    before = pod.state()

    def after(syscall: str, n: int) -> None:
        out = pod.run("DEL", conf)
        assert out.returncode == 0, (syscall, n, out.stdout)
        assert pod.state() == before, (syscall, n)

    assert kill_at_each_point(run, ("write", "sendto", "rename"), after, most=60) > 3


# --- beside the reference ---------------------------------------------------------------------------

# Keys Debian's tuning (v1.1.1) knows: no IFNAME substitution (v1.2.0), no txQLen (v1.4.0).
REFERENCE_KEYS: dict[str, Any] = {
    "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2", "net.ipv4.ping_group_range": "0 1000"},
    "mac": MAC,
    "mtu": 1400,
    "promisc": True,
    "allmulti": True,
}


@pytest.fixture
def reference(make_netns: Callable[[str], str], tmp_path: Path) -> Pod:
    if not (REFERENCE_PLUGINS / "tuning").exists():
        pytest.skip("needs containernetworking-plugins")
    return Pod(make_netns, tmp_path, REFERENCE_PLUGINS, label="ref")


def test_same_kernel_state_as_the_reference(pod: Pod, reference: Pod) -> None:
    ours_before, theirs_before = pod.links(), reference.links()
    ours, theirs = (
        ok(pod.run("ADD", pod.conf(**REFERENCE_KEYS))),
        ok(reference.run("ADD", reference.conf(**REFERENCE_KEYS))),
    )
    assert ours["interfaces"][0]["mac"] == theirs["interfaces"][0]["mac"] == MAC
    assert pod.links()["eth0"] == reference.links()["eth0"]
    assert pod.sysctls() == reference.sysctls()
    succeeded(pod.run("CHECK", {**pod.conf(**REFERENCE_KEYS), "prevResult": ours}))
    # On purpose: the kernel reads vectors back with tabs, and the reference's CHECK compares
    # text, so it fails on its own ADD; ours compares the words.
    assert "current value is 0\t1000" in failed(
        reference.run("CHECK", {**reference.conf(**REFERENCE_KEYS), "prevResult": theirs}), 999
    )
    succeeded(pod.run("DEL", pod.conf(**REFERENCE_KEYS)))
    succeeded(reference.run("DEL", reference.conf(**REFERENCE_KEYS)))
    # The link settings go back on both; on purpose, only ours gives the sysctls back.
    assert (pod.links(), reference.links()) == (ours_before, theirs_before)
    assert pod.sysctls()["net/ipv4/conf/eth0/rp_filter"] == "0"
    assert reference.sysctls()["net/ipv4/conf/eth0/rp_filter"] == "2"


def test_either_del_restores_what_the_other_add_changed(pod: Pod, our_bin: Path) -> None:
    if not (REFERENCE_PLUGINS / "tuning").exists():
        pytest.skip("needs containernetworking-plugins")
    conf = pod.conf(**REFERENCE_KEYS)
    before = pod.links()
    for add, delete in ((REFERENCE_PLUGINS, our_bin), (our_bin, REFERENCE_PLUGINS)):
        pod.plugins = add
        ok(pod.run("ADD", conf))
        assert pod.links()["eth0"]["mtu"] == 1400
        pod.plugins = delete
        succeeded(pod.run("DEL", conf))
        assert pod.links() == before, (add, delete)
        assert pod.records() == []


# --- in a chain, through libcni ---------------------------------------------------------------------


def test_the_cni_documentation_chain_through_libcni(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, go_driver: Path
) -> None:
    """portmap, tuning, bridge with host-local: the chain CNI's documentation walks
    through, as libcni runs it, on our plugins alone."""
    conflist = {
        "cniVersion": "1.0.0",
        "name": "docnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "docbr0",
                "isGateway": True,
                "ipMasq": True,
                "ipam": {"type": "host-local", "subnet": "10.66.0.0/24", "dataDir": "@IPAM@"},
            },
            {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}, "mtu": 1400},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    world = World("doc", tmp_path, make_netns, conflist, our_bin)
    caps = {"portMappings": [{"hostPort": 18081, "containerPort": 80, "protocol": "tcp"}]}
    # A first pod leaves what stays by design (the bridge, forwarding, portmap's chains).
    ok(world.go(go_driver, "add", cid="first", cap_args=caps))
    ok(world.go(go_driver, "del", cid="first", cap_args=caps))
    before = world.snapshot(infra={"docbr0"})
    result = ok(world.go(go_driver, "add", cap_args=caps))
    assert [ip["address"] for ip in result["ips"]] == ["10.66.0.3/24"]
    state = subprocess.run(
        ["ip", "-n", world.pods[0], "link", "show", "eth0"], capture_output=True, text=True, check=True
    )
    assert "mtu 1400" in state.stdout
    arp_notify = subprocess.run(
        ["ip", "netns", "exec", world.pods[0], "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert arp_notify.stdout.strip() == "1"
    ok(world.go(go_driver, "check", cap_args=caps))
    ok(world.go(go_driver, "del", cap_args=caps))
    assert world.snapshot(infra={"docbr0"}) == before
