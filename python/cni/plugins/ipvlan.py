# SPDX-License-Identifier: Apache-2.0
"""The ipvlan plugin: an ipvlan link on a node interface, inside the container.

Keys of the reference: `master` (default: the only interface of prevResult when chained,
else the interface of the IPv4 default route), `mode` (l2, l3, l3s), `mtu`,
`linkInContainer` (the master lives in the container's namespace) and `ipam`. Without
`ipam`, a chained ipvlan takes its addresses, routes and DNS from prevResult, and DEL
releases nothing (the plugin that allocated them does).
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import InvalidNetworkConfig
from cni.plugins._iface import (
    add_stacked_link,
    config_bool,
    config_master,
    config_mode,
    config_mtu,
    interface_plugin,
    ipam_type,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "ipvlan plugin (cni package)"
MODES = ("l2", "l3", "l3s")


class Config:
    """The ipvlan plugin's keys, checked."""

    __slots__ = ("in_container", "master", "mode", "mtu")

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        self.master = config_master(conf, "ipvlan")
        self.mode = config_mode(conf, "ipvlan", MODES)
        self.mtu = config_mtu(conf, "ipvlan")
        self.in_container = config_bool(conf, "linkInContainer", "ipvlan")


def _previous(args: skel.CmdArgs) -> dict[str, object] | None:
    """prevResult in the 1.1.0 shape, when chained."""
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        return None
    from cni.conversion import convert

    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _chained_master(prev: dict[str, object]) -> str:
    interfaces = prev.get("interfaces")
    if isinstance(interfaces, list) and len(interfaces) == 1 and isinstance(interfaces[0], dict):
        name = interfaces[0].get("name")
        if isinstance(name, str) and name:
            return name
    raise InvalidNetworkConfig("ipvlan: no master given and prevResult lacks a single named interface")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    prev = _previous(args)
    master = config.master
    if master is None and prev is not None:
        master = _chained_master(prev)
    addresses = None
    if ipam_type(args) is None:
        if prev is None or not prev.get("ips"):
            raise InvalidNetworkConfig("ipvlan: no ipam, and no prevResult with addresses to use")
        addresses = {key: value for key, value in prev.items() if key != "interfaces"}
    notify = ((f"net/ipv4/conf/{args.ifname}/arp_notify", "1"), (f"net/ipv6/conf/{args.ifname}/ndisc_notify", "1"))
    result = add_stacked_link(
        args,
        "ipvlan",
        master,
        mode=config.mode,
        mtu=config.mtu,
        sysctls=notify,
        in_container=config.in_container,
        addresses=addresses,
    )
    dns = args.conf.get("dns")
    if isinstance(dns, dict) and dns:
        result["dns"] = dns
    return result


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import LINK_IN_CONTAINER, MASTER, MTU, choice

    return (MASTER, choice("mode", MODES, "ipvlan mode (default l2)"), MTU, LINK_IN_CONTAINER)


PLUGIN = interface_plugin("ipvlan", add=cmd_add, validate=Config, kind="ipvlan", about=ABOUT, fields=fields)
