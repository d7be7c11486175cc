# SPDX-License-Identifier: Apache-2.0
"""Policy-routing rules and VRF devices through our netlink core, read back with pyroute2."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from cni._native import Netlink
from cni.errors import NetlinkError
from tests.support.world import kernel_supports

pytestmark = pytest.mark.netns


def kernel_rules(ns: str, family: int) -> set[tuple[int, int | None, str | None, int, str | None]]:
    """(table, priority, src, src_len, iif) of every rule, via pyroute2."""
    from pyroute2 import NetNS

    with NetNS(ns) as kernel:
        return {
            (
                r.get_attr("FRA_TABLE"),
                r.get_attr("FRA_PRIORITY"),
                r.get_attr("FRA_SRC"),
                r["src_len"],
                r.get_attr("FRA_IIFNAME"),
            )
            for r in kernel.get_rules(family=family)
        }


def test_rules_add_list_delete(make_netns: Callable[[str], str]) -> None:
    ns = make_netns("rules")
    nl = Netlink(f"/var/run/netns/{ns}")
    nl.add_rule(table=100, priority=1000, src="10.9.0.5/32")
    nl.add_rule(table=1000, priority=1001, src="fd09::5/128")  # a table above 255
    nl.add_rule(table=101, priority=1002, iif="lo", family=4)
    assert (100, 1000, "10.9.0.5", 32, None) in kernel_rules(ns, 2)
    assert (101, 1002, None, 0, "lo") in kernel_rules(ns, 2)
    assert (1000, 1001, "fd09::5", 128, None) in kernel_rules(ns, 10)
    ours = nl.rules(4)
    assert any(
        (r.table, r.priority, r.src, r.dst, r.iif, r.oif) == (100, 1000, "10.9.0.5/32", None, None, None) for r in ours
    )
    assert any(r.table == 1000 and r.src == "fd09::5/128" for r in nl.rules(6))
    with pytest.raises(NetlinkError) as caught:
        nl.add_rule(table=100, priority=1000, src="10.9.0.5/32")
    assert caught.value.errno == errno.EEXIST
    assert "from 10.9.0.5/32 table 100" in str(caught.value)
    nl.del_rule(table=100, priority=1000, src="10.9.0.5/32")
    nl.del_rule(table=1000, priority=1001, src="fd09::5/128")
    assert not any(t in (100, 1000) for t, *_ in kernel_rules(ns, 2) | kernel_rules(ns, 10))
    with pytest.raises(NetlinkError) as gone:
        nl.del_rule(table=100, priority=1000, src="10.9.0.5/32")
    assert gone.value.errno == errno.ENOENT


def test_rule_arguments_are_checked(make_netns: Callable[[str], str]) -> None:
    ns = make_netns("rulebad")
    nl = Netlink(f"/var/run/netns/{ns}")
    before = (kernel_rules(ns, 2), kernel_rules(ns, 10))
    with pytest.raises(ValueError, match="one family"):
        nl.add_rule(table=5, src="10.0.0.1/32", dst="fd00::/64")
    with pytest.raises(ValueError, match="invalid CIDR"):
        nl.add_rule(table=5, src="10.0.0.1")
    with pytest.raises(ValueError, match="4 or 6"):
        nl.add_rule(table=5, family=5)
    assert (kernel_rules(ns, 2), kernel_rules(ns, 10)) == before


@pytest.mark.skipif(not kernel_supports("type", "vrf", "table", "10"), reason="this kernel has no VRF devices")
def test_vrf_device_with_its_table(make_netns: Callable[[str], str]) -> None:
    from pyroute2 import NetNS

    ns = make_netns("vrf")
    nl = Netlink(f"/var/run/netns/{ns}")
    nl.add_vrf("vrf-blue", 42)
    with NetNS(ns) as kernel:
        link = kernel.get_links(ifname="vrf-blue")[0]
        info = link.get_attr("IFLA_LINKINFO")
        assert info.get_attr("IFLA_INFO_KIND") == "vrf"
        assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_VRF_TABLE") == 42
    vrf = nl.link("vrf-blue")
    assert vrf is not None
    assert vrf.kind == "vrf"
    with pytest.raises(NetlinkError) as caught:
        nl.add_vrf("vrf-blue", 43)
    assert caught.value.errno == errno.EEXIST
