# SPDX-License-Identifier: Apache-2.0
"""The tap plugin: a persistent tap device inside the container (for VMs in pods).

Keys of the reference: `mac` (also `runtimeConfig.mac` and CNI_ARGS `MAC=`), `mtu`,
`multiQueue`, `owner`, `group`, `bridge` (a bridge in the container to attach the tap to),
`ipam` (optional). The device has VNET_HDR set, as the reference's netlink path does;
`selinuxContext` is refused with code 2 until it is built.
"""

from __future__ import annotations

from cni import skel
from cni._native import create_tap
from cni.errors import InvalidNetworkConfig, UnsupportedField
from cni.plugins._iface import (
    config_bool,
    config_mtu,
    delete_container_link,
    finish_add,
    interface_plugin,
    open_free_pod,
    requested_mac,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "tap plugin (cni package)"


class Config:
    __slots__ = ("bridge", "group", "mac", "mtu", "multi_queue", "owner")

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        if conf.get("selinuxContext"):
            raise UnsupportedField("tap: selinuxContext is not supported yet by this plugin")
        self.mtu = config_mtu(conf, "tap")
        self.owner = _id(conf, "owner")
        self.group = _id(conf, "group")
        self.multi_queue = config_bool(conf, "multiQueue", "tap")
        bridge = conf.get("bridge")
        if bridge is not None and (not isinstance(bridge, str) or not bridge):
            raise InvalidNetworkConfig(f"tap: invalid bridge {bridge!r}")
        self.bridge = bridge
        self.mac = requested_mac(args)


def _id(conf: dict[str, object], key: str) -> int | None:
    value = conf.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidNetworkConfig(f"tap: {key} must be a non-negative integer, not {value!r}")
    return value


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    pod = open_free_pod(args)
    if config.bridge and pod.link(config.bridge) is None:
        raise InvalidNetworkConfig(f"tap: bridge {config.bridge!r} not found in the container")
    create_tap(args.ifname, netns=args.netns, multi_queue=config.multi_queue, owner=config.owner, group=config.group)
    try:
        pod.set_link(
            args.ifname, mac=config.mac, mtu=config.mtu or None, master=config.bridge if config.bridge else None
        )
    except BaseException:
        delete_container_link(args)
        raise
    return finish_add(pod, args)


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import MTU, REQUESTED_MAC, UINT32, boolean, ifname, integer, string

    return (
        MTU,
        boolean("multiQueue", "a multi-queue tap"),
        integer("owner", 0, UINT32, "uid that owns the tap"),
        integer("group", 0, UINT32, "gid that owns the tap"),
        string("selinuxContext", "SELinux context of the tap (not supported yet: refused)"),
        ifname("bridge", "a bridge in the container to attach the tap to"),
        *REQUESTED_MAC,
    )


PLUGIN = interface_plugin("tap", add=cmd_add, validate=Config, kind="tun", about=ABOUT, fields=fields)
