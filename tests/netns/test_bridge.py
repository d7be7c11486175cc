# SPDX-License-Identifier: Apache-2.0
"""The bridge plugin (with our host-local) in throwaway node and pod namespaces.

Case names (K5, F8, S8, ...) are those of shared/docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.differential import Differential
from tests.support.env import REFERENCE_PLUGINS, cni_env
from tests.support.world import World, kernel_supports, node_state, ok, pod_state, sysctl

pytestmark = pytest.mark.netns
VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def conflist(version: str = "1.0.0", subnet: str = "10.66.0.0/24", **bridge: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "brnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cnibr0",
                "isGateway": True,
                "isDefaultGateway": True,
                **bridge,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": "@IPAM@"},
            }
        ],
    }


def ping(netns: str, address: str) -> bool:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "1", address],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return out.returncode == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del_per_version(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, version: str
) -> None:
    world = World("br", tmp_path, make_netns, conflist(version, hairpinMode=True, mtu=1400), our_bin, pods=2)
    first = ok(world.cni("add", 0, "p1"))
    second = ok(world.cni("add", 1, "p2"))
    assert first["cniVersion"] == version
    names = [i["name"] for i in first["interfaces"]]
    assert names[0] == "cnibr0"
    assert names[1].startswith("veth")
    assert names[2] == "eth0"
    assert first["interfaces"][2]["sandbox"] == world.pod_path(0)
    ip = first["ips"][0]
    assert (ip["address"], ip["gateway"], ip["interface"]) == ("10.66.0.2/24", "10.66.0.1", 2)
    assert first["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.66.0.1"}]
    # Kernel state, read with pyroute2.
    pod = pod_state(world.pods[0])
    assert pod["addrs"] == ["10.66.0.2/24"]
    assert pod["up"]
    assert ("default", 0, "10.66.0.1") in pod["routes"]
    node = node_state(world.node, "cnibr0")
    assert node["bridge_addrs"] == ["10.66.0.1/24"]
    assert node["ports"] == ["veth", "veth"]
    # S8: no router advertisements accepted on the host side (CVE-2020-10749).
    host_veth = first["interfaces"][1]["name"]
    assert sysctl(world.node, f"net/ipv6/conf/{host_veth}/accept_ra") == "0"
    assert sysctl(world.node, "net/ipv6/conf/cnibr0/accept_ra") == "0"
    hairpin = subprocess.run(
        ["ip", "netns", "exec", world.node, "cat", f"/sys/class/net/{host_veth}/brport/hairpin_mode"],
        capture_output=True,
        check=False,
    )
    if hairpin.returncode == 0:
        assert hairpin.stdout.strip() == b"1"
    # Traffic between the pods and to the gateway, only inside our namespaces.
    assert ping(world.pods[0], second["ips"][0]["address"].split("/")[0])
    assert ping(world.pods[1], "10.66.0.1")
    if version != "0.3.1":
        ok(world.cni("check", 0, "p1"))
    ok(world.cni("del", 0, "p1"))
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert world.reservations() == ["10.66.0.3"]
    assert node_state(world.node, "cnibr0")["ports"] == ["veth"]
    ok(world.cni("del", 0, "p1"))  # again: nothing left to do, still success
    ok(world.cni("del", 1, "p2"))
    assert world.reservations() == []


def test_k5_parallel_adds_before_the_bridge_exists(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("k5", tmp_path, make_netns, conflist(), our_bin, pods=20)
    with ThreadPoolExecutor(20) as pool:
        outs = list(pool.map(lambda n: world.cni("add", n, f"k5-{n}"), range(20)))
    assert all(o.returncode == 0 for o in outs), [o.stdout for o in outs if o.returncode]
    node = node_state(world.node, "cnibr0")
    assert node["bridge_addrs"] == ["10.66.0.1/24"], "one bridge, one gateway address"
    assert len(node["ports"]) == 20
    assert len(world.reservations()) == 20


def test_f8_ipam_failure_leaves_no_veth_and_no_reservation(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("f8", tmp_path, make_netns, conflist(subnet="10.66.0.0/30"), our_bin, pods=2)
    ok(world.cni("add", 0, "only"))  # the /30 has one address
    before = world.snapshot()
    out = world.cni("add", 1, "more")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == 11
    assert world.snapshot() == before, "the failed ADD's veth and reservation are gone"


def test_e4_f4_del_after_the_namespace_is_gone_releases(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("f4", tmp_path, make_netns, conflist(), our_bin)
    ok(world.cni("add"))
    subprocess.run(["ip", "netns", "del", world.pods[0]], check=True)
    ok(world.cni("del"))
    assert world.reservations() == []
    out = world.cni("add")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == 8


@pytest.mark.parametrize(
    ("bridge", "code"),
    [
        ({"hairpinMode": True, "promiscMode": True}, 7),
        ({"ipMasq": True, "ipMasqBackend": "pf"}, 7),
        ({"vlan": 4095}, 7),
        ({"macspoofchk": "yes"}, 7),
        ({"mtu": "big"}, 7),
        # Once a 999 from the Rust core (issue 8): now the SDK's key table refuses it.
        ({"mac": "zz"}, 7),
        ({"args": {"cni": {"mac": "02:00:00:00:00"}}}, 7),
        # A NUL once made a node link named after the part before it (issue 9).
        ({"bridge": "cnibr0\u0000x"}, 7),
        ({"bridge": "cnibr0\n"}, 7),
    ],
)
def test_c7_bad_config_refused_before_any_link(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, bridge: dict[str, Any], code: int
) -> None:
    world = World("c7", tmp_path, make_netns, conflist(**bridge), our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    assert json.loads(out.stdout)["code"] == code
    assert world.snapshot() == before, "refused before any link, rule or reservation"


def test_existing_interface_name_in_the_container_is_an_error(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world = World("dup", tmp_path, make_netns, conflist(), our_bin)
    subprocess.run(["ip", "-n", world.pods[0], "link", "add", "eth0", "type", "veth", "peer", "name", "x0"], check=True)
    before = world.snapshot(infra={"cnibr0"})
    out = world.cni("add")
    assert out.returncode == 1
    assert "already exists" in json.loads(out.stdout)["msg"]
    assert world.snapshot(infra={"cnibr0"}) == before


@pytest.mark.interop
def test_same_result_and_kernel_state_as_reference(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    case = Differential("d", tmp_path, make_netns, conflist(hairpinMode=True), our_bin, pods=2)
    case.step("add", 0, "p1")
    case.step("add", 1, "p2")
    case.assert_same_state()
    case.step("del", 0, "p1")
    case.assert_same_state()
    case.step("del", 1, "p2")
    case.assert_same_state()


@pytest.mark.interop
def test_libcni_drives_bridge_and_host_local(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, go_driver: Path
) -> None:
    world = World("golib", tmp_path, make_netns, conflist(), our_bin)
    result = ok(world.go(go_driver, "add"))
    assert result["ips"][0]["address"] == "10.66.0.2/24"
    assert pod_state(world.pods[0])["addrs"] == ["10.66.0.2/24"]
    ok(world.go(go_driver, "check"))
    ok(world.go(go_driver, "del"))
    assert pod_state(world.pods[0])["links"] == ["lo"]
    assert world.reservations() == []


def test_port_flags_hairpin_and_isolation(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("iso", tmp_path, make_netns, conflist(hairpinMode=True, portIsolation=True), our_bin)
    host_veth = ok(world.cni("add"))["interfaces"][1]["name"]
    port = world.in_node(["bridge", "-d", "link", "show", "dev", host_veth]).stdout.decode()
    assert "hairpin on" in port
    assert "isolated on" in port
    ok(world.cni("del"))


def test_force_address_replaces_a_stale_gateway(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    """The node's subnet changed: without forceAddress ADD refuses, with it the old address goes."""
    world = World("force", tmp_path, make_netns, conflist(subnet="10.67.0.0/24"), our_bin, pods=2)
    ok(world.cni("add", 0, "old"))
    for name, conf in (("no", conflist()), ("yes", conflist(forceAddress=True))):
        (world.conf_dir / "10-net.conflist").write_text(json.dumps(conf).replace("@IPAM@", str(world.ipam)))
        out = world.cni("add", 1, f"new-{name}")
        if name == "no":
            assert out.returncode == 1
            assert "already has an IP address different from 10.66.0.1/24" in json.loads(out.stdout)["msg"]
            # The refused ADD left nothing: no veth, no address, no reservation.
            assert world.reservations() == ["10.67.0.2"]
            assert node_state(world.node, "cnibr0")["ports"] == ["veth"]
            assert pod_state(world.pods[1])["links"] == ["lo"]
        else:
            assert out.returncode == 0, out.stdout
    assert node_state(world.node, "cnibr0")["bridge_addrs"] == ["10.66.0.1/24"]


def bridge_v6_addrs(node: str) -> list[str]:
    from pyroute2 import NetNS

    with NetNS(node) as ns:
        index = ns.link_lookup(ifname="cnibr0")[0]
        return sorted(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ns.get_addr(index=index, family=10)
            if not a.get_attr("IFA_ADDRESS").startswith("fe80")
        )


@pytest.mark.parametrize("implementation", ["ours", "reference"])
def test_ipv6_gateways_one_per_subnet_and_force_address(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, implementation: str
) -> None:
    """IPv6: gateways of disjoint subnets live side by side; an overlapping one needs
    forceAddress and then replaces the old one. Ours and the reference give the same answers."""
    plugins = our_bin if implementation == "ours" else REFERENCE_PLUGINS
    world = World("v6gw", tmp_path, make_netns, conflist(subnet="fd60:1::/64"), plugins, pods=4)
    ok(world.cni("add", 0, "a"))
    steps: list[tuple[str, dict[str, Any], int, list[str]]] = [
        ("fd60:2::/64", {}, 0, ["fd60:1::1/64", "fd60:2::1/64"]),
        ("fd60:1::/56", {}, 1, ["fd60:1::1/64", "fd60:2::1/64"]),
        ("fd60:1::/56", {"forceAddress": True}, 0, ["fd60:1::1/56", "fd60:2::1/64"]),
    ]
    for pod, (subnet, extra, status, addrs) in enumerate(steps, start=1):
        conf = conflist(subnet=subnet, **extra)
        (world.conf_dir / "10-net.conflist").write_text(json.dumps(conf).replace("@IPAM@", str(world.ipam)))
        out = world.cni("add", pod, f"p{pod}")
        assert out.returncode == status, out.stdout
        if status:
            assert "already has an IP address different from fd60:1::1/56" in json.loads(out.stdout)["msg"]
            # Ours undoes the refused ADD; the reference (v1.1.1) leaves the pod's veth behind.
            assert pod_state(world.pods[pod])["links"] == (["lo"] if implementation == "ours" else ["eth0", "lo"])
            # Both release the address the refused ADD had reserved.
            assert len(world.reservations()) == pod
        assert bridge_v6_addrs(world.node) == addrs


def test_configure_is_one_batch_and_names_the_failing_step(make_netns: Callable[[str], str]) -> None:
    """Up, addresses and routes in one batch; a failing route is named, the rest applied."""
    from pyroute2 import NetNS

    from cni._native import Netlink
    from cni.errors import NetlinkError

    ns = make_netns("batch")
    nl = Netlink(f"/var/run/netns/{ns}")
    nl.add_veth("a0", "b0")
    nl.configure(
        "a0",
        addresses=["10.5.0.2/24", "fd05::2/64"],
        routes=[{"dst": "10.6.0.0/16", "gw": "10.5.0.1", "priority": 7}, {"dst": "0.0.0.0/0", "gw": "10.5.0.1"}],
    )
    with NetNS(ns) as kernel:
        index = kernel.link_lookup(ifname="a0")[0]
        link = kernel.get_links(index)[0]
        assert link["flags"] & 1  # IFF_UP
        addrs = {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in kernel.get_addr(index=index)}
        assert {"10.5.0.2/24", "fd05::2/64"} <= addrs
        routes = {
            (r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_GATEWAY"), r.get_attr("RTA_PRIORITY"))
            for r in kernel.get_routes(family=2, table=254)
        }
        assert ("10.6.0.0", 16, "10.5.0.1", 7) in routes
        assert (None, 0, "10.5.0.1", None) in routes
    with pytest.raises(NetlinkError) as caught:
        nl.configure("a0", addresses=["10.7.0.2/24"], routes=[{"dst": "10.8.0.0/16", "gw": "192.0.2.1"}])
    assert "add route 10.8.0.0/16" in str(caught.value)
    assert "10.7.0.2/24" in nl.addresses("a0")  # the steps before it were applied
    with pytest.raises(ValueError, match="without a dst"):
        nl.configure("a0", addresses=[], routes=[{"gw": "10.5.0.1"}])


def test_link_attributes_round_trip(make_netns: Callable[[str], str]) -> None:
    from cni._native import Netlink

    ns = make_netns("attrs")
    nl = Netlink(f"/var/run/netns/{ns}")
    nl.add_veth("a0", "b0")
    nl.set_link("a0", alias="pod web-1", txqlen=321, allmulti=True, mtu=1280, mac="02:11:22:33:44:55")
    link = nl.link("a0")
    assert link is not None
    assert (link.alias, link.txqlen, link.allmulti, link.mtu, link.mac) == (
        "pod web-1",
        321,
        True,
        1280,
        "02:11:22:33:44:55",
    )
    nl.add_address("a0", "10.1.2.3/24")
    nl.del_address("a0", "10.1.2.3/24")
    assert "10.1.2.3/24" not in nl.addresses("a0")


def port_vlans(world: World, port: str) -> dict[int, list[str]]:
    """VLAN id -> flags of a bridge port, via `bridge -j vlan show`."""
    out = world.in_node(["bridge", "-j", "vlan", "show", "dev", port]).stdout.decode()
    vlans: dict[int, list[str]] = {}
    for entry in json.loads(out or "[]"):
        for vlan in entry.get("vlans", []):
            for vid in range(vlan["vlan"], vlan.get("vlanEnd", vlan["vlan"]) + 1):
                vlans[vid] = sorted(vlan.get("flags", []))
    return vlans


@pytest.mark.skipif(
    not kernel_supports("type", "bridge", "vlan_filtering", "1"), reason="this kernel has no bridge VLAN filtering"
)
@pytest.mark.parametrize("preserve", [False, True])
def test_access_and_trunk_vlans(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, preserve: bool
) -> None:
    conf = conflist(
        isGateway=False,
        isDefaultGateway=False,
        vlan=100,
        preserveDefaultVlan=preserve,
        vlanTrunk=[{"id": 200}, {"minID": 300, "maxID": 302}],
    )
    world = World("vl", tmp_path, make_netns, conf, our_bin)
    host = ok(world.cni("add"))["interfaces"][1]["name"]
    vlans = port_vlans(world, host)
    assert vlans[100] == ["Egress Untagged", "PVID"]
    assert all(vlans[v] == [] for v in (200, 300, 301, 302))
    assert (1 in vlans) is preserve
    ok(world.cni("del"))


def bridge_ports(node: str, bridge: str) -> list[str]:
    from pyroute2 import NetNS

    with NetNS(node) as ns:
        index = ns.link_lookup(ifname=bridge)[0]
        return sorted(link.get_attr("IFLA_IFNAME") for link in ns.get_links() if link.get_attr("IFLA_MASTER") == index)


def link_addrs(node: str, name: str) -> list[str]:
    from pyroute2 import NetNS

    with NetNS(node) as ns:
        index = ns.link_lookup(ifname=name)[0]
        return sorted(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ns.get_addr(index=index, family=2))


@pytest.mark.skipif(
    not kernel_supports("type", "bridge", "vlan_filtering", "1"), reason="this kernel has no bridge VLAN filtering"
)
@pytest.mark.parametrize("implementation", ["ours", "reference"])
def test_vlan_gateway_interface(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, implementation: str
) -> None:
    """isGateway with an access VLAN: the gateway lives on `<bridge>.<vlan>`, a veth whose
    other end is an untagged port of the VLAN; pods reach it and each other; DEL keeps it."""
    plugins = our_bin if implementation == "ours" else REFERENCE_PLUGINS
    world = World("vgw", tmp_path, make_netns, conflist(vlan=100), plugins, pods=2)
    results = [ok(world.cni("add", pod, f"c{pod}")) for pod in (0, 1)]
    for result in results:
        names = [i["name"] for i in result["interfaces"]]
        assert names[0] == "cnibr0"
        assert names[2:] == ["eth0", "cnibr0.100"]
        assert [ip["interface"] for ip in result["ips"]] == [2]
    assert link_addrs(world.node, "cnibr0.100") == ["10.66.0.1/24"]
    assert link_addrs(world.node, "cnibr0") == []
    pod_ports = {result["interfaces"][1]["name"] for result in results}
    gateway_ports = [port for port in bridge_ports(world.node, "cnibr0") if port not in pod_ports]
    assert len(gateway_ports) == 1
    assert port_vlans(world, gateway_ports[0])[100] == ["Egress Untagged", "PVID"]
    assert all(ping(world.pods[pod], "10.66.0.1") for pod in (0, 1))
    assert ping(world.pods[0], results[1]["ips"][0]["address"].split("/")[0])
    for pod in (0, 1):
        ok(world.cni("del", pod, f"c{pod}"))
    assert link_addrs(world.node, "cnibr0.100") == ["10.66.0.1/24"]


def test_vlan_gateway_name_too_long(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("vgwlong", tmp_path, make_netns, conflist(bridge="cni-bridge-01", vlan=4000), our_bin)
    before = world.snapshot()
    out = world.cni("add")
    assert out.returncode == 1
    error = json.loads(out.stdout)
    assert error["code"] == 7
    assert "cni-bridge-01.4000" in error["msg"]
    assert world.snapshot() == before


@pytest.mark.parametrize("trunk", [[{"id": 0}], [{"id": 4095}], [{"minID": 10, "maxID": 5}], [{"minID": 10}], "7"])
def test_bad_vlan_trunk_is_code_7(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, trunk: object
) -> None:
    world = World(
        "vlbad", tmp_path, make_netns, conflist(isGateway=False, isDefaultGateway=False, vlanTrunk=trunk), our_bin
    )
    before = world.snapshot()
    out = world.cni("add")
    assert json.loads(out.stdout)["code"] == 7
    assert world.snapshot() == before


@pytest.mark.parametrize("bogus", ["/etc/hostname", "/proc/self/ns/mnt"])
def test_e5_netns_that_is_not_one(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, bogus: str) -> None:
    """ADD refuses (8) before touching anything; DEL treats it as gone and still releases."""
    world = World("e5", tmp_path, make_netns, conflist(), our_bin)
    ok(world.cni("add"))
    stdin = world.plugin_stdin()
    env = {
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": bogus,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }

    def plugin(command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", world.node, str(our_bin / "bridge")],
            input=stdin,
            env={**env, "CNI_COMMAND": command},
            capture_output=True,
            check=False,
            timeout=60,
        )

    before = world.snapshot()
    added = plugin("ADD")
    assert added.returncode == 1
    assert json.loads(added.stdout)["code"] == 8
    assert world.snapshot() == before, "the refused ADD changed nothing"
    assert plugin("DEL").returncode == 0
    assert world.reservations() == []


def spoof_rules(world: World) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", world.node, "nft", "list", "table", "bridge", "nat"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout


@pytest.mark.parametrize("netns_gone", [False, True])
def test_s8_macspoofchk_rules_and_teardown(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, netns_gone: bool
) -> None:
    world = World("spoof", tmp_path, make_netns, conflist(macspoofchk=True), our_bin)
    result = ok(world.cni("add", 0, "ctr"))
    host, mac = result["interfaces"][1]["name"], result["interfaces"][2]["mac"]
    rules = spoof_rules(world)
    assert f'iifname "{host}" jump cni-br-iface-ctr-eth0 comment "macspoofchk-ctr-eth0"' in rules
    assert f"ether saddr {mac} return" in rules
    assert "drop" in rules
    # Our own frames pass the check: the gateway answers.
    assert ping(world.pods[0], "10.66.0.1")
    # A frame with another source MAC is dropped: change the container's MAC behind its back.
    subprocess.run(["ip", "-n", world.pods[0], "link", "set", "eth0", "address", "02:de:ad:be:ef:01"], check=True)
    subprocess.run(["ip", "-n", world.pods[0], "neigh", "flush", "all"], check=True)
    assert not ping(world.pods[0], "10.66.0.1")
    if netns_gone:
        subprocess.run(["ip", "netns", "del", world.pods[0]], check=True)
    ok(world.cni("del", 0, "ctr"))
    rules = spoof_rules(world)
    assert "cni-br-iface-ctr-eth0" not in rules
    assert "macspoofchk" not in rules
    assert world.reservations() == []


def test_s12_check_sees_what_the_container_changed(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    """S12: a route added by a later plugin is fine; a new MAC or a lost address is not."""
    world = World("s12", tmp_path, make_netns, conflist(), our_bin)
    result = ok(world.cni("add"))
    pod = world.pods[0]
    subprocess.run(["ip", "-n", pod, "route", "add", "10.123.0.0/16", "via", "10.66.0.1"], check=True)
    ok(world.cni("check"))

    mac = result["interfaces"][2]["mac"]
    subprocess.run(["ip", "-n", pod, "link", "set", "eth0", "address", "02:00:00:00:12:34"], check=True)
    out = world.cni("check")
    assert out.returncode == 1
    assert "02:00:00:00:12:34" in json.loads(out.stdout)["msg"]
    subprocess.run(["ip", "-n", pod, "link", "set", "eth0", "address", mac], check=True)
    ok(world.cni("check"))

    subprocess.run(["ip", "-n", pod, "addr", "del", result["ips"][0]["address"], "dev", "eth0"], check=True)
    out = world.cni("check")
    assert out.returncode == 1
    assert "lost address 10.66.0.2/24" in json.loads(out.stdout)["msg"]
    ok(world.cni("del"))


def test_f7_add_killed_at_the_deadline_leaves_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, plugin_dir: Path
) -> None:
    """F7: bridge succeeds, the next plugin hangs and is killed at the deadline; the
    library DELs the attachment itself (the caller's deadline has passed) before failing."""
    conf = conflist()
    conf["plugins"].append({"type": "echo", "sleep": 30, "sleepOn": "ADD"})
    world = World("f7", tmp_path, make_netns, conf, our_bin)
    # The bridge network was used on this node before (the bridge, forwarding on and the
    # store's index exist, as any DEL leaves them): the bridge alone, ADD then DEL.
    for command in ("ADD", "DEL"):
        env = cni_env(command, container_id="warm", netns=world.pod_path(), path=our_bin)
        subprocess.run(
            ["ip", "netns", "exec", world.node, str(our_bin / "bridge")],
            input=world.plugin_stdin(),
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        )
    before = world.snapshot()
    out = world.cni("add", 0, "c1", "--timeout", "3", "--cni-path", f"{our_bin}:{plugin_dir}")
    assert out.returncode == 1
    error = json.loads(out.stdout)
    assert error["code"] == 11
    assert "timed out" in error["msg"]
    assert world.snapshot() == before
