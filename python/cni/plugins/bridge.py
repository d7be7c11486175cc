# SPDX-License-Identifier: Apache-2.0
"""The bridge plugin: a veth pair from the container to a bridge on the node.

Keys of the reference handled here: `bridge` (default cni0), `isGateway`,
`isDefaultGateway`, `forceAddress`, `mtu`, `hairpinMode`, `promiscMode`, `enabledad`,
`disableContainerInterface`, `portIsolation`, `mac` (also `runtimeConfig.mac`,
`args.cni.mac`, CNI_ARGS `MAC=`), `ipam`, `dns`. Keys whose machinery is not built yet
(`ipMasq`, `vlan`, `vlanTrunk`, `macspoofchk`) are refused with code 2 rather than ignored.

The container side of the veth is created directly inside the container's namespace (no
rename or move); host veths and the bridge get `accept_ra=0` (CVE-2020-10749). DEL
removes the interface first and then releases the addresses, and still releases them when
the namespace is gone.
"""

from __future__ import annotations

import os
import sys

from cni import cniargs, skel, versions
from cni._native import Netlink, write_sysctl
from cni.delegate import delegate_add, delegate_check, delegate_del, delegate_gc, delegate_status
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError, UnsupportedField

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "bridge plugin (cni package)"
EEXIST = 17
UNSUPPORTED = ("ipMasq", "vlan", "vlanTrunk", "macspoofchk")


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
        "promisc",
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
        mtu = conf.get("mtu", 0)
        if not isinstance(mtu, int) or isinstance(mtu, bool) or not 0 <= mtu <= 65535:
            raise InvalidNetworkConfig(f"bridge: invalid mtu {mtu!r}")
        self.mtu = mtu
        if self.hairpin and self.promisc:
            raise InvalidNetworkConfig("cannot set hairpin mode and promiscuous mode at the same time")
        ipam = conf.get("ipam")
        self.ipam_type = ipam.get("type") if isinstance(ipam, dict) else None
        if self.disable_container_interface and self.ipam_type:
            raise InvalidNetworkConfig("cannot use IPAM when disableContainerInterface is set")
        self.mac = _mac(args)


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


def _mac(args: skel.CmdArgs) -> str | None:
    """The container MAC: runtimeConfig.mac, then args.cni.mac, then CNI_ARGS MAC."""
    conf = args.conf
    runtime = conf.get("runtimeConfig")
    if isinstance(runtime, dict) and isinstance(runtime.get("mac"), str):
        return str(runtime["mac"])
    cni_args = conf.get("args")
    cni = cni_args.get("cni") if isinstance(cni_args, dict) else None
    if isinstance(cni, dict) and isinstance(cni.get("mac"), str):
        return str(cni["mac"])
    env = cniargs.load(args.args, ["MAC"])
    return env.get("MAC") or None


def _host_veth_name() -> str:
    # Random, like the reference: a recreated pod must not collide with a stale veth.
    return "veth" + os.urandom(4).hex()


def _ensure_bridge(node: Netlink, config: Config) -> dict[str, object]:
    link = node.link(config.bridge)
    if link is None:
        try:
            node.add_link("bridge", config.bridge, mtu=config.mtu)
        except NetlinkError as err:
            # Another ADD created it meanwhile (K5): use theirs.
            if err.errno != EEXIST:
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
    _no_router_advertisements(config.bridge)
    return node.link(config.bridge) or link


def _no_router_advertisements(ifname: str, netns: str | None = None) -> None:
    """accept_ra=0: a container must not re-route the node's IPv6 (CVE-2020-10749)."""
    try:
        write_sysctl(f"net/ipv6/conf/{ifname}/accept_ra", "0", netns)
    except NetlinkError as err:
        if err.errno != 2:  # IPv6 disabled: nothing to protect
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
            raise UnsupportedField("bridge: forceAddress is not supported yet by this plugin")
        try:
            node.add_address(config.bridge, wanted)
        except NetlinkError as err:
            if err.errno != EEXIST:  # another ADD added it meanwhile
                raise
        present.append(wanted)
    families = {("." in str(ip.get("gateway", ""))) for ip in ips if ip.get("gateway")}
    if True in families:
        write_sysctl("net/ipv4/ip_forward", "1")
    if False in families:
        write_sysctl("net/ipv6/conf/all/forwarding", "1")


def _configure_container(pod: Netlink, args: skel.CmdArgs, config: Config, result: dict[str, object]) -> None:
    if not config.enable_dad:
        try:
            write_sysctl(f"net/ipv6/conf/{args.ifname}/accept_dad", "0", args.netns)
        except NetlinkError as err:
            if err.errno != 2:
                raise
    pod.set_link(args.ifname, up=True)
    ips = [ip for ip in result.get("ips") or [] if isinstance(ip, dict)]  # type: ignore[attr-defined]
    for ip in ips:
        pod.add_address(args.ifname, str(ip["address"]))
    routes = [r for r in result.get("routes") or [] if isinstance(r, dict)]  # type: ignore[attr-defined]
    defaults = {("." in str(r["dst"])) for r in routes if str(r["dst"]).endswith("/0")}
    if config.is_default_gateway:
        for ip in ips:
            gateway = ip.get("gateway")
            v4 = "." in str(ip["address"])
            if isinstance(gateway, str) and v4 not in defaults:
                routes.append({"dst": "0.0.0.0/0" if v4 else "::/0", "gw": gateway})
                defaults.add(v4)
        result["routes"] = routes
    for route in routes:
        gw = route.get("gw")
        if gw is None:
            gw = next(
                (
                    ip.get("gateway")
                    for ip in ips
                    if ("." in str(ip["address"])) == ("." in str(route["dst"])) and ip.get("gateway")
                ),
                None,
            )
        pod.add_route(
            str(route["dst"]),
            gw=gw if isinstance(gw, str) else None,
            dev=args.ifname,
            priority=_int(route.get("priority")),
            table=_int(route.get("table")),
            scope=_int(route.get("scope")),
            mtu=_int(route.get("mtu")),
            advmss=_int(route.get("advmss")),
            replace=True,
        )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    pod = Netlink(args.netns)
    if pod.link(args.ifname) is not None:
        raise CNIError(f"container veth name provided ({args.ifname}) already exists")
    node = Netlink()
    bridge = _ensure_bridge(node, config)
    host = _host_veth_name()
    node.add_veth(
        host, args.ifname, peer_netns=args.netns, mtu=config.mtu or int(str(bridge["mtu"])), peer_mac=config.mac
    )
    ipam_done = False
    try:
        _no_router_advertisements(host)
        node.set_link(host, up=True, master=config.bridge)
        if config.hairpin:
            node.set_hairpin(host, True)
        result: dict[str, object] = {"cniVersion": versions.CURRENT}
        if config.ipam_type:
            result = delegate_add(str(config.ipam_type), args.stdin_data, args.env)
            result = _as_current(result, args.cni_version)
            ipam_done = True
        result["interfaces"] = _interfaces(pod, node, config, bridge, host, args)
        ips = [ip for ip in result.get("ips") or [] if isinstance(ip, dict)]  # type: ignore[attr-defined]
        for ip in ips:
            ip["interface"] = 2
        if not config.disable_container_interface:
            _configure_container(pod, args, config, result)
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


def _as_current(result: dict[str, object], version: str) -> dict[str, object]:
    from cni.results import convert

    return convert(result, versions.CURRENT, from_version=version)


def _undo(node: Netlink, host: str, args: skel.CmdArgs, config: Config, ipam_done: bool) -> None:
    """After a failed ADD: no veth and no reservation may remain (F8)."""
    try:
        node.del_link(host)
    except CNIError:
        pass
    if ipam_done and config.ipam_type:
        try:
            delegate_del(str(config.ipam_type), args.stdin_data, args.env)
        except CNIError:
            pass


def cmd_del(args: skel.CmdArgs) -> None:
    config = Config(args)
    if args.netns:
        try:
            pod = Netlink(args.netns)
        except NetlinkError:
            pod = None  # the namespace is gone, and the veth with it
        if pod is not None and pod.link(args.ifname) is not None:
            try:
                pod.del_link(args.ifname)
            except NetlinkError as err:
                if err.errno != 19:  # ENODEV: gone meanwhile
                    raise
    if config.ipam_type:
        delegate_del(str(config.ipam_type), args.stdin_data, args.env)


def cmd_check(args: skel.CmdArgs) -> None:
    config = Config(args)
    if config.ipam_type:
        delegate_check(str(config.ipam_type), args.stdin_data, args.env)
    prev = args.conf.get("prevResult")
    assert isinstance(prev, dict)
    pod = Netlink(args.netns)
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"bridge: container interface {args.ifname} not found")
    for iface in prev.get("interfaces") or []:
        ours = isinstance(iface, dict) and iface.get("name") == args.ifname and iface.get("sandbox")
        if ours and iface.get("mac") and iface["mac"] != link["mac"]:
            raise CNIError(f"bridge: {args.ifname} has MAC {link['mac']}, expected {iface['mac']}")
    present = set(pod.addresses(args.ifname))
    for ip in prev.get("ips") or []:
        if isinstance(ip, dict) and ip.get("address") not in present:
            raise CNIError(f"bridge: {args.ifname} lost address {ip.get('address')}")
    if Netlink().link(config.bridge) is None:
        raise CNIError(f"bridge: bridge {config.bridge} not found")


def cmd_status(args: skel.CmdArgs) -> None:
    config = Config(args)
    if config.ipam_type:
        delegate_status(str(config.ipam_type), args.stdin_data, args.env)


def cmd_gc(args: skel.CmdArgs) -> None:
    config = Config(args)
    if config.ipam_type:
        delegate_gc(str(config.ipam_type), args.stdin_data, args.env)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return skel.plugin_main(
        add=cmd_add, delete=cmd_del, check=cmd_check, status=cmd_status, gc=cmd_gc, about=ABOUT, **io
    )


if __name__ == "__main__":
    sys.exit(main())
