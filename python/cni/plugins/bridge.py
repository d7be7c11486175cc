# SPDX-License-Identifier: Apache-2.0
"""The bridge plugin: a veth pair from the container to a bridge on the node.

Keys of the reference handled here: `bridge` (default cni0), `isGateway`,
`isDefaultGateway`, `forceAddress` (IPv4), `mtu`, `hairpinMode`, `promiscMode`, `enabledad`,
`disableContainerInterface`, `portIsolation`, `mac` (also `runtimeConfig.mac`,
`args.cni.mac`, CNI_ARGS `MAC=`), `ipam`, `dns`. Keys whose machinery is not built yet
(`ipMasq`, and `vlan`/`vlanTrunk` together with `isGateway`) are refused with code 2 rather
than ignored. `macspoofchk` installs the reference's nftables layout (bridge nat table,
per-port chains named after the attachment), and DEL removes it by its comment, so it also
goes when the namespace is gone. `vlan` makes the host veth's port an access port (PVID,
untagged), `vlanTrunk` adds tagged VLANs, and VLAN 1 is removed unless
`preserveDefaultVlan` (default false, as since plugins v1.8.0).

The container side of the veth is created directly inside the container's namespace (no
rename or move); host veths and the bridge get `accept_ra=0` (CVE-2020-10749). DEL
removes the interface first and then releases the addresses, and still releases them when
the namespace is gone.
"""

from __future__ import annotations

import errno
import os
import sys

from cni import skel
from cni._native import Netlink
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError, UnsupportedField
from cni.plugins._iface import (
    config_mtu,
    configure,
    delete_container_link,
    enable_forwarding,
    ipam_add,
    ipam_del,
    no_router_advertisements,
    open_free_pod,
    plugin_main,
    requested_mac,
    result_ips,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "bridge plugin (cni package)"
UNSUPPORTED = ("ipMasq",)


class Config:
    """The bridge plugin's keys, checked."""

    __slots__ = (
        "bridge",
        "disable_container_interface",
        "enable_dad",
        "force_address",
        "hairpin",
        "ipam_type",
        "is_default_gateway",
        "is_gateway",
        "mac",
        "mtu",
        "port_isolation",
        "preserve_default_vlan",
        "promisc",
        "spoofcheck",
        "trunk",
        "vlan",
    )

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        for key in UNSUPPORTED:
            if conf.get(key) not in (None, False, 0, []):
                raise UnsupportedField(f"bridge: {key}={conf[key]!r} is not supported yet by this plugin")
        self.bridge = _str(conf, "bridge") or "cni0"
        self.is_default_gateway = _bool(conf, "isDefaultGateway")
        self.is_gateway = _bool(conf, "isGateway") or self.is_default_gateway
        self.force_address = _bool(conf, "forceAddress")
        self.hairpin = _bool(conf, "hairpinMode")
        self.promisc = _bool(conf, "promiscMode")
        self.enable_dad = _bool(conf, "enabledad")
        self.port_isolation = _bool(conf, "portIsolation")
        self.disable_container_interface = _bool(conf, "disableContainerInterface")
        self.mtu = config_mtu(conf, "bridge")
        if self.hairpin and self.promisc:
            raise InvalidNetworkConfig("cannot set hairpin mode and promiscuous mode at the same time")
        ipam = conf.get("ipam")
        self.ipam_type = ipam.get("type") if isinstance(ipam, dict) else None
        if self.disable_container_interface and self.ipam_type:
            raise InvalidNetworkConfig("cannot use IPAM when disableContainerInterface is set")
        self.mac = requested_mac(args)
        self.vlan = _vlan_id(conf.get("vlan", 0), "vlan", allow_zero=True)
        self.trunk = _trunk(conf.get("vlanTrunk"))
        self.preserve_default_vlan = _bool(conf, "preserveDefaultVlan")
        self.spoofcheck = _bool(conf, "macspoofchk")
        if (self.vlan or self.trunk) and self.is_gateway:
            raise UnsupportedField("bridge: vlan or vlanTrunk with isGateway is not supported yet by this plugin")


def _vlan_id(value: object, key: str, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 4094:
        raise InvalidNetworkConfig(f"bridge: invalid {key} {value!r} (must be between {low} and 4094)")
    return value


def _trunk(value: object) -> list[int]:
    """vlanTrunk: `[{"id": N} | {"minID": A, "maxID": B}]` as a sorted list of VLAN IDs."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidNetworkConfig("bridge: vlanTrunk must be a list of {id} or {minID, maxID} objects")
    ids: set[int] = set()
    for entry in value:
        if not isinstance(entry, dict):
            raise InvalidNetworkConfig(f"bridge: invalid vlanTrunk entry {entry!r}")
        if "id" in entry:
            ids.add(_vlan_id(entry["id"], "vlanTrunk id"))
        if "minID" in entry or "maxID" in entry:
            low = _vlan_id(entry.get("minID"), "vlanTrunk minID")
            high = _vlan_id(entry.get("maxID"), "vlanTrunk maxID")
            if not low or not high or low > high:
                raise InvalidNetworkConfig(f"bridge: invalid vlanTrunk range {entry!r}")
            ids.update(range(low, high + 1))
    return sorted(ids)


def _str(conf: dict[str, object], key: str) -> str | None:
    value = conf.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidNetworkConfig(f"bridge: {key} must be a string, not {value!r}")
    return value


def _bool(conf: dict[str, object], key: str) -> bool:
    value = conf.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidNetworkConfig(f"bridge: {key} must be true or false, not {value!r}")
    return value


def _host_veth_name() -> str:
    # Random, like the reference: a recreated pod must not collide with a stale veth.
    return "veth" + os.urandom(4).hex()


def _ensure_bridge(node: Netlink, config: Config) -> dict[str, object]:
    link = node.link(config.bridge)
    if link is None:
        try:
            node.add_link("bridge", config.bridge, mtu=config.mtu, vlan_filtering=bool(config.vlan or config.trunk))
        except NetlinkError as err:
            # Another ADD created it meanwhile (K5): use theirs.
            if err.errno != errno.EEXIST:
                raise
        link = node.link(config.bridge)
        if link is None:
            raise CNIError(f"bridge {config.bridge} vanished while being set up")
    if link["kind"] != "bridge":
        raise InvalidNetworkConfig(f"{config.bridge} already exists but is not a bridge")
    if config.promisc and not link["promisc"]:
        node.set_link(config.bridge, promisc=True)
    if not link["up"]:
        node.set_link(config.bridge, up=True)
    no_router_advertisements(config.bridge)
    return node.link(config.bridge) or link


def _port_vlans(node: Netlink, host: str, config: Config) -> None:
    """Access VLAN (PVID, untagged) and trunk VLANs on the host veth's bridge port."""
    if config.vlan:
        node.bridge_vlan(host, config.vlan, pvid=True, untagged=True)
    for vid in config.trunk:
        node.bridge_vlan(host, vid)
    if (config.vlan or config.trunk) and not config.preserve_default_vlan and 1 not in config.trunk:
        try:
            node.bridge_vlan(host, 1, pvid=config.vlan == 1, untagged=config.vlan == 1, add=False)
        except NetlinkError as err:
            if err.errno != errno.ENOENT:  # the port had no default VLAN
                raise


def _ensure_gateway_addresses(node: Netlink, config: Config, ips: list[dict[str, object]]) -> None:
    present = node.addresses(config.bridge)
    for ip in ips:
        gateway = ip.get("gateway")
        if not isinstance(gateway, str):
            continue
        prefix = str(ip["address"]).split("/", 1)[1]
        wanted = f"{gateway}/{prefix}"
        if wanted in present:
            continue
        v4 = "." in gateway
        others = [a for a in present if ("." in a) == v4 and not a.startswith("fe80:")]
        if v4 and others:
            if not config.force_address:
                raise InvalidNetworkConfig(
                    f"{config.bridge} already has an IP address different from {wanted}",
                    "set forceAddress to replace it",
                )
            # The node's subnet changed (podman#12306): the old gateway address goes.
            for other in others:
                node.del_address(config.bridge, other)
                present.remove(other)
        try:
            node.add_address(config.bridge, wanted)
        except NetlinkError as err:
            if err.errno != errno.EEXIST:  # another ADD added it meanwhile
                raise
        present.append(wanted)
    families = {("." in str(ip.get("gateway", ""))) for ip in ips if ip.get("gateway")}
    for v4 in families:
        enable_forwarding(v4)


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    pod = open_free_pod(args)
    node = Netlink()
    bridge = _ensure_bridge(node, config)
    host = _host_veth_name()
    node.add_veth(
        host, args.ifname, peer_netns=args.netns, mtu=config.mtu or int(str(bridge["mtu"])), peer_mac=config.mac
    )
    ipam_done = False
    try:
        no_router_advertisements(host)
        node.set_link(host, up=True, master=config.bridge)
        _port_vlans(node, host, config)
        if config.hairpin or config.port_isolation:
            node.set_bridge_port(host, hairpin=config.hairpin or None, isolated=config.port_isolation or None)
        result = ipam_add(args)
        ipam_done = True
        result["interfaces"] = _interfaces(pod, node, config, bridge, host, args)
        if config.spoofcheck:
            from cni._native import spoofcheck_setup
            from cni.plugins import _nft

            container_mac = str(result["interfaces"][2]["mac"])  # type: ignore[index]
            _nft.apply(spoofcheck_setup(host, container_mac, args.container_id, args.ifname))
        ips = result_ips(result)
        for ip in ips:
            ip["interface"] = 2
        if not config.disable_container_interface:
            configure(pod, args, result, default_gateway=config.is_default_gateway, enable_dad=config.enable_dad)
        if config.is_gateway:
            _ensure_gateway_addresses(node, config, ips)
        dns = args.conf.get("dns")
        if isinstance(dns, dict) and dns:
            result["dns"] = dns
    except BaseException:
        _undo(node, host, args, config, ipam_done)
        raise
    return result


def _interfaces(
    pod: Netlink, node: Netlink, config: Config, bridge: dict[str, object], host: str, args: skel.CmdArgs
) -> list[dict[str, object]]:
    """The result's interfaces: bridge, host veth, container side (index 2)."""
    container = pod.link(args.ifname)
    host_link = node.link(host)
    if container is None or host_link is None:
        raise CNIError(f"veth {host}/{args.ifname} vanished while being set up")
    return [
        {"name": config.bridge, "mac": bridge["mac"]},
        {"name": host, "mac": host_link["mac"]},
        {"name": args.ifname, "mac": container["mac"], "sandbox": args.netns},
    ]


def _remove_spoofcheck(args: skel.CmdArgs) -> None:
    """Removes this attachment's macspoofchk rules: found by their comment, so it works when
    the namespace (and with it the host veth's name) is gone."""
    from cni._native import spoofcheck_teardown
    from cni.plugins import _nft

    comment = f"macspoofchk-{args.container_id}-{args.ifname}"
    chain = f"cni-br-iface-{args.container_id}-{args.ifname}"
    handles: list[int] = []
    chains = False
    for item in _nft.list_table("bridge", "nat"):
        rule = item.get("rule")
        if isinstance(rule, dict) and rule.get("chain") == "PREROUTING" and rule.get("comment") == comment:
            handles.append(int(str(rule["handle"])))
        found = item.get("chain")
        if isinstance(found, dict) and found.get("name") == chain:
            chains = True
    _nft.apply(spoofcheck_teardown(args.container_id, args.ifname, handles, chains))


def _undo(node: Netlink, host: str, args: skel.CmdArgs, config: Config, ipam_done: bool) -> None:
    """After a failed ADD: no veth, rule or reservation may remain (F8)."""
    try:
        node.del_link(host)
    except CNIError:
        pass
    if config.spoofcheck:
        try:
            _remove_spoofcheck(args)
        except CNIError:
            pass
    if ipam_done:
        ipam_del(args, best_effort=True)


def _bridge_exists(args: skel.CmdArgs) -> None:
    config = Config(args)
    if Netlink().link(config.bridge) is None:
        raise CNIError(f"bridge: bridge {config.bridge} not found")


def cmd_del(args: skel.CmdArgs) -> None:
    """The interface first, then its firewall rules (even when the netns is gone), then IPAM."""
    config = Config(args)
    delete_container_link(args)
    if config.spoofcheck:
        _remove_spoofcheck(args)
    ipam_del(args)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(
        add=cmd_add, validate=Config, kind="veth", about=ABOUT, check_more=_bridge_exists, delete=cmd_del, **io
    )


if __name__ == "__main__":
    sys.exit(main())
