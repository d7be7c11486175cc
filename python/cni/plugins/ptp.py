# SPDX-License-Identifier: Apache-2.0
"""The ptp plugin: a veth pair routed point-to-point, no bridge.

Keys of the reference: `mtu`, `ipam` (required), `dns`, `ipMasq` and `ipMasqBackend`
(see :mod:`cni.plugins._masq`). The container gets its addresses, a link-scope route
to the gateway, the subnet via the gateway (replacing the kernel's on-link subnet route) and
the IPAM routes; the host veth gets each gateway as a /32 (/128) and a host route to each
container address, and forwarding is switched on.
"""

from __future__ import annotations

import errno

from cni import skel
from cni._native import Netlink, network_of
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError
from cni.plugins._iface import (
    config_mtu,
    configure,
    container_interface,
    enable_forwarding,
    interface_plugin,
    ipam_add,
    ipam_type,
    masq_setup,
    no_router_advertisements,
    open_free_pod,
    random_veth_name,
    result_ips,
    undo_add,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "ptp plugin (cni package)"
SCOPE_LINK = 253
SCOPE_HOST = 254


def _config(args: skel.CmdArgs) -> int:
    conf = args.conf
    if ipam_type(args) is None:
        raise InvalidNetworkConfig("ptp: ipam must be specified")
    return config_mtu(conf, "ptp")


def _point_to_point_routes(pod: Netlink, args: skel.CmdArgs, ips: list[dict[str, object]]) -> None:
    for ip in ips:
        address, gateway = str(ip["address"]), ip.get("gateway")
        if not isinstance(gateway, str):
            raise InvalidNetworkConfig(f"ptp: IPAM gave {address} no gateway")
        subnet = network_of(address)
        host_bits = "32" if "." in gateway else "128"
        try:
            pod.del_route(subnet, dev=args.ifname)
        except NetlinkError as err:
            if err.errno != errno.ESRCH:  # the kernel added none (a /32 address)
                raise
        pod.add_route(f"{gateway}/{host_bits}", dev=args.ifname, scope=SCOPE_LINK, replace=True)
        pod.add_route(subnet, gw=gateway, dev=args.ifname, replace=True)


def _host_side(node: Netlink, host: str, ips: list[dict[str, object]]) -> None:
    no_router_advertisements(host)
    node.set_link(host, up=True)
    for ip in ips:
        address, gateway = str(ip["address"]), str(ip["gateway"])
        v4 = "." in address
        bits = "32" if v4 else "128"
        try:
            node.add_address(host, f"{gateway}/{bits}")
        except NetlinkError as err:
            if err.errno != errno.EEXIST:
                raise
        node.add_route(f"{address.split('/')[0]}/{bits}", dev=host, scope=SCOPE_HOST, replace=True)
        enable_forwarding(v4)


def _required_ips(result: dict[str, object]) -> list[dict[str, object]]:
    ips = result_ips(result)
    if not ips:
        raise CNIError("ptp: IPAM plugin returned no IP configuration")
    return ips


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    mtu = _config(args)
    pod = open_free_pod(args)
    node = Netlink()
    host = random_veth_name()
    node.add_veth(host, args.ifname, peer_netns=args.netns, mtu=mtu)
    ipam_done = False
    try:
        result = ipam_add(args)
        ipam_done = True
        ips = _required_ips(result)
        host_link = node.link(host)
        result["interfaces"] = [
            {"name": host, "mac": host_link.mac if host_link else ""},
            container_interface(pod, args),
        ]
        for ip in ips:
            ip["interface"] = 1
        configure(pod, args, result)
        _point_to_point_routes(pod, args, ips)
        _host_side(node, host, ips)
        masq_setup(args, ips)
        dns = args.conf.get("dns")
        if isinstance(dns, dict) and dns:
            result["dns"] = dns
    except BaseException as err:
        undo_add(args, ipam_done=ipam_done, cause=err)
        raise
    return result


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import IP_MASQ, IP_MASQ_BACKEND, MTU

    return (IP_MASQ, IP_MASQ_BACKEND, MTU)


PLUGIN = interface_plugin(
    "ptp", add=cmd_add, validate=_config, kind="veth", about=ABOUT, fields=fields, masquerade=True
)
