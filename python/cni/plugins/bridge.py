# SPDX-License-Identifier: Apache-2.0
"""The bridge plugin: a veth pair from the container to a bridge on the node.

Keys of the reference handled here: `bridge` (default cni0), `isGateway`,
`isDefaultGateway`, `forceAddress`, `mtu`, `hairpinMode`, `promiscMode`, `enabledad`,
`disableContainerInterface`, `portIsolation`, `mac` (also `runtimeConfig.mac`,
`args.cni.mac`, CNI_ARGS `MAC=`), `ipam`, `dns`, `ipMasq` and `ipMasqBackend` (see
:mod:`cni.plugins._masq`: removed on DEL whatever the config says). `macspoofchk` installs the reference's
nftables layout (bridge nat table, per-port chains named after the attachment), and DEL
removes it by its comment, so it also goes when the namespace is gone. `vlan` makes the
host veth's port an access port (PVID, untagged), `vlanTrunk` adds tagged VLANs, and
VLAN 1 is removed unless `preserveDefaultVlan` (default false, as since plugins v1.8.0).
With `isGateway` and a `vlan`, the gateway addresses go on a `<bridge>.<vlan>` interface:
a node-local veth whose other end is an access port of that VLAN (as the reference does).

The container side of the veth is created directly inside the container's namespace (no
rename or move); host veths and the bridge get `accept_ra=0` (CVE-2020-10749). DEL
removes the interface first and then releases the addresses, and still releases them when
the namespace is gone.
"""

from __future__ import annotations

import errno

from cni import skel
from cni._native import Link, Netlink, cidr_has
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError
from cni.plugins._iface import (
    config_bool,
    config_mtu,
    configure,
    delete_container_link,
    enable_forwarding,
    interface_plugin,
    ipam_add,
    ipam_del,
    masq_setup,
    masq_teardown,
    no_router_advertisements,
    open_free_pod,
    random_veth_name,
    releases_first,
    requested_mac,
    result_ips,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "bridge plugin (cni package)"
_IFNAMSIZ = 15


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
        self.bridge = _str(conf, "bridge") or "cni0"
        self.is_default_gateway = config_bool(conf, "isDefaultGateway", "bridge")
        self.is_gateway = config_bool(conf, "isGateway", "bridge") or self.is_default_gateway
        self.force_address = config_bool(conf, "forceAddress", "bridge")
        self.hairpin = config_bool(conf, "hairpinMode", "bridge")
        self.promisc = config_bool(conf, "promiscMode", "bridge")
        self.enable_dad = config_bool(conf, "enabledad", "bridge")
        self.port_isolation = config_bool(conf, "portIsolation", "bridge")
        self.disable_container_interface = config_bool(conf, "disableContainerInterface", "bridge")
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
        self.preserve_default_vlan = config_bool(conf, "preserveDefaultVlan", "bridge")
        self.spoofcheck = config_bool(conf, "macspoofchk", "bridge")
        if self.is_gateway and self.vlan and len(self.vlan_gateway) > _IFNAMSIZ:
            raise InvalidNetworkConfig(
                f"bridge: the VLAN gateway interface name {self.vlan_gateway!r} is longer than {_IFNAMSIZ}",
                "use a shorter bridge name",
            )

    @property
    def vlan_gateway(self) -> str:
        """The node-side interface that carries the gateway addresses of an access VLAN."""
        return f"{self.bridge}.{self.vlan}"


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


def _ensure_bridge(node: Netlink, config: Config) -> Link:
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
    if link.kind != "bridge":
        raise InvalidNetworkConfig(f"{config.bridge} already exists but is not a bridge")
    if config.promisc and not link.promisc:
        node.set_link(config.bridge, promisc=True)
    if not link.up:
        node.set_link(config.bridge, up=True)
    no_router_advertisements(config.bridge)
    return node.link(config.bridge) or link


def _port_vlans(node: Netlink, host: str, config: Config, *, trunk: bool = True) -> None:
    """Access VLAN (PVID, untagged) and, with `trunk`, trunk VLANs on a bridge port."""
    trunk_ids = config.trunk if trunk else []
    if config.vlan:
        node.bridge_vlan(host, config.vlan, pvid=True, untagged=True)
    for vid in trunk_ids:
        node.bridge_vlan(host, vid)
    if (config.vlan or trunk_ids) and not config.preserve_default_vlan and 1 not in trunk_ids:
        try:
            node.bridge_vlan(host, 1, pvid=config.vlan == 1, untagged=config.vlan == 1, add=False)
        except NetlinkError as err:
            if err.errno != errno.ENOENT:  # the port had no default VLAN
                raise


def _conflicting(present: list[str], wanted: str) -> list[str]:
    """Bridge addresses that `wanted` must replace (the reference's rule): every other IPv4
    address, but only IPv6 addresses whose subnet overlaps `wanted`'s, since a bridge may
    carry one IPv6 gateway per subnet (link-local addresses are never touched)."""
    if "." in wanted:
        return [a for a in present if "." in a]
    return [
        a
        for a in present
        if ":" in a
        and not a.startswith("fe80:")
        and (cidr_has(a, wanted.split("/", 1)[0]) or cidr_has(wanted, a.split("/", 1)[0]))
    ]


def _ensure_vlan_gateway(node: Netlink, config: Config, mtu: int) -> Link:
    """The `<bridge>.<vlan>` gateway interface (created once, kept by DEL like the bridge):
    one end of a node-local veth pair whose other end is an access port of the VLAN, so the
    node routes for the VLAN without 802.1q support."""
    name = config.vlan_gateway
    link = node.link(name)
    if link is None:
        port = random_veth_name()
        try:
            node.add_veth(port, name, mtu=mtu)
        except NetlinkError as err:
            if err.errno != errno.EEXIST:  # another ADD created it meanwhile
                raise
        else:
            try:
                no_router_advertisements(port)
                no_router_advertisements(name)
                node.set_link(port, up=True, master=config.bridge)
                _port_vlans(node, port, config, trunk=False)
                node.set_link(name, up=True)
            except BaseException:
                node.del_link(port)
                raise
        link = node.link(name)
        if link is None:
            raise CNIError(f"bridge: VLAN gateway {name} vanished while being set up")
    return link


def _ensure_gateway_addresses(node: Netlink, config: Config, device: str, ips: list[dict[str, object]]) -> None:
    present = node.addresses(device)
    for ip in ips:
        gateway = ip.get("gateway")
        if not isinstance(gateway, str):
            continue
        prefix = str(ip["address"]).split("/", 1)[1]
        wanted = f"{gateway}/{prefix}"
        if wanted in present:
            continue
        others = _conflicting(present, wanted)
        if others:
            if not config.force_address:
                raise InvalidNetworkConfig(
                    f"{device} already has an IP address different from {wanted}",
                    "set forceAddress to replace it",
                )
            # The node's subnet changed (podman#12306): the old gateway address goes.
            for other in others:
                node.del_address(device, other)
                present.remove(other)
        try:
            node.add_address(device, wanted)
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
    host = random_veth_name()
    node.add_veth(host, args.ifname, peer_netns=args.netns, mtu=config.mtu or bridge.mtu, peer_mac=config.mac)
    ipam_done = False
    try:
        no_router_advertisements(host)
        node.set_link(host, up=True, master=config.bridge)
        _port_vlans(node, host, config)
        if config.hairpin or config.port_isolation:
            node.set_bridge_port(host, hairpin=config.hairpin or None, isolated=config.port_isolation or None)
        result = ipam_add(args)
        ipam_done = True
        interfaces = _interfaces(pod, node, config, bridge, host, args)
        result["interfaces"] = interfaces
        if config.spoofcheck:
            from cni._native import spoofcheck_setup
            from cni.plugins import _nft as nft

            container_mac = str(interfaces[2]["mac"])
            nft.apply(spoofcheck_setup(host, container_mac, args.container_id, args.ifname))
        ips = result_ips(result)
        for ip in ips:
            ip["interface"] = 2
        if not config.disable_container_interface:
            configure(pod, args, result, default_gateway=config.is_default_gateway, enable_dad=config.enable_dad)
        if config.is_gateway:
            device = config.bridge
            if config.vlan:
                gateway = _ensure_vlan_gateway(node, config, bridge.mtu)
                device = config.vlan_gateway
                interfaces.append({"name": device, "mac": gateway.mac})
            _ensure_gateway_addresses(node, config, device, ips)
        masq_setup(args, ips)
        dns = args.conf.get("dns")
        if isinstance(dns, dict) and dns:
            result["dns"] = dns
    except BaseException as err:
        _undo(node, host, args, config, ipam_done, err)
        raise
    return result


def _interfaces(
    pod: Netlink, node: Netlink, config: Config, bridge: Link, host: str, args: skel.CmdArgs
) -> list[dict[str, object]]:
    """The result's interfaces: bridge, host veth, container side (index 2)."""
    container = pod.link(args.ifname)
    host_link = node.link(host)
    if container is None or host_link is None:
        raise CNIError(f"veth {host}/{args.ifname} vanished while being set up")
    return [
        {"name": config.bridge, "mac": bridge.mac},
        {"name": host, "mac": host_link.mac},
        {"name": args.ifname, "mac": container.mac, "sandbox": args.netns},
    ]


def _remove_spoofcheck(args: skel.CmdArgs) -> None:
    """Removes this attachment's macspoofchk rules: found by their comment, so it works when
    the namespace (and with it the host veth's name) is gone."""
    from cni._native import spoofcheck_teardown
    from cni.plugins import _nft as nft

    comment = f"macspoofchk-{args.container_id}-{args.ifname}"
    chain = f"cni-br-iface-{args.container_id}-{args.ifname}"
    handles: list[int] = []
    chains = False
    for item in nft.list_table("bridge", "nat"):
        rule = item.get("rule")
        if isinstance(rule, dict) and rule.get("chain") == "PREROUTING" and rule.get("comment") == comment:
            handles.append(int(str(rule["handle"])))
        found = item.get("chain")
        if isinstance(found, dict) and found.get("name") == chain:
            chains = True
    nft.apply(spoofcheck_teardown(args.container_id, args.ifname, handles, chains))


def _undo(node: Netlink, host: str, args: skel.CmdArgs, config: Config, ipam_done: bool, cause: BaseException) -> None:
    """After a failed ADD: no veth, rule or reservation may remain (F8); every step runs."""
    from cni.plugins._teardown import Teardown

    teardown = Teardown("bridge")
    teardown.step("delete the host veth", _del_link_if_present, node, host)
    if config.spoofcheck:
        teardown.step("remove the MAC spoof check", _remove_spoofcheck, args)
    teardown.step("remove the masquerade rules", masq_teardown, args)
    if ipam_done:
        teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.note_on(cause)


def _del_link_if_present(node: Netlink, name: str) -> None:
    try:
        node.del_link(name)
    except NetlinkError as err:
        if err.errno != errno.ENODEV:
            raise


def _bridge_exists(args: skel.CmdArgs) -> None:
    config = Config(args)
    if Netlink().link(config.bridge) is None:
        raise CNIError(f"bridge: bridge {config.bridge} not found")


def cmd_del(args: skel.CmdArgs) -> None:
    """The interface first, then its firewall rules (even when the netns is gone), then IPAM;
    every step runs even when one before it failed."""
    from cni.plugins._teardown import Teardown

    config = Config(args)
    teardown = Teardown("bridge")
    early = releases_first(args)
    if early:
        teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.step("delete the container interface", delete_container_link, args)
    if config.spoofcheck:
        teardown.step("remove the MAC spoof check", _remove_spoofcheck, args)
    teardown.step("remove the masquerade rules", masq_teardown, args)
    if not early:
        teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.finish()


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import (
        IP_MASQ,
        IP_MASQ_BACKEND,
        MTU,
        REQUESTED_MAC,
        boolean,
        ifname,
        integer,
        items,
        object_check,
    )

    def _trunk_entry_problem(entry: object) -> str | None:
        vlan_id = integer("id", 1, 4094, "").check
        return object_check({"id": vlan_id, "minID": vlan_id, "maxID": vlan_id})(entry)

    return (
        ifname("bridge", "the bridge to attach to (default cni0), created when missing"),
        boolean("isGateway", "give the bridge the gateway addresses"),
        boolean("isDefaultGateway", "also a default route through the gateway (implies isGateway)"),
        boolean("forceAddress", "replace a conflicting gateway address on the bridge"),
        IP_MASQ,
        IP_MASQ_BACKEND,
        MTU,
        boolean("hairpinMode", "hairpin on the host veth's port"),
        boolean("promiscMode", "the bridge in promiscuous mode"),
        integer("vlan", 0, 4094, "access VLAN (PVID) of the port (0: none)"),
        items("vlanTrunk", "tagged VLANs of the port", _trunk_entry_problem, {"type": "object"}),
        boolean("preserveDefaultVlan", "keep VLAN 1 on the port"),
        boolean("macspoofchk", "drop frames whose source MAC is not the container's"),
        boolean("enabledad", "duplicate address detection on the container's interface"),
        boolean("disableContainerInterface", "leave the container's interface down (no IPAM)"),
        boolean("portIsolation", "isolate the port from other isolated ports"),
        *REQUESTED_MAC,
    )


PLUGIN = interface_plugin(
    "bridge",
    add=cmd_add,
    validate=Config,
    kind="veth",
    about=ABOUT,
    check_more=_bridge_exists,
    delete=cmd_del,
    fields=fields,
    masquerade=True,
)
