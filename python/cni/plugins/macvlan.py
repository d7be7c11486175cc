# SPDX-License-Identifier: Apache-2.0
"""The macvlan plugin: a macvlan link on a node interface, inside the container.

Keys of the reference: `master` (default: the interface of the node's IPv4 default route),
`mode` (bridge, private, vepa, passthru), `mtu` (at most the master's), `mac` (also
`runtimeConfig.mac` and CNI_ARGS `MAC=`), `bcqueuelen` (broadcast queue length; needs
Linux 5.11), `linkInContainer` (the master lives in the container's namespace), `ipam`
(optional: without it the link is L2 only). The link is created directly inside the
container's namespace, so its name never meets the node's.
"""

from __future__ import annotations

from cni import skel
from cni.plugins._iface import (
    add_stacked_link,
    config_bool,
    config_master,
    config_mode,
    config_mtu,
    config_uint,
    interface_plugin,
    requested_mac,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "macvlan plugin (cni package)"
MODES = ("bridge", "private", "vepa", "passthru")


class Config:
    """The macvlan plugin's keys, checked."""

    __slots__ = ("bc_queue_len", "in_container", "mac", "master", "mode", "mtu")

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        self.master = config_master(conf, "macvlan")
        self.mode = config_mode(conf, "macvlan", MODES)
        self.mtu = config_mtu(conf, "macvlan")
        self.mac = requested_mac(args)
        self.in_container = config_bool(conf, "linkInContainer", "macvlan")
        self.bc_queue_len = config_uint(conf, "bcqueuelen", "macvlan")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    notify = ((f"net/ipv4/conf/{args.ifname}/arp_notify", "1"), (f"net/ipv6/conf/{args.ifname}/ndisc_notify", "1"))
    return add_stacked_link(
        args,
        "macvlan",
        config.master,
        mode=config.mode,
        mtu=config.mtu,
        mac=config.mac,
        sysctls=notify,
        in_container=config.in_container,
        bc_queue_len=config.bc_queue_len,
    )


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import LINK_IN_CONTAINER, MASTER, MTU, REQUESTED_MAC, UINT32, choice, integer

    return (
        MASTER,
        choice("mode", MODES, "macvlan mode (default bridge)"),
        MTU,
        LINK_IN_CONTAINER,
        integer("bcqueuelen", 0, UINT32, "broadcast queue length (0: the kernel's default)"),
        *REQUESTED_MAC,
    )


PLUGIN = interface_plugin("macvlan", add=cmd_add, validate=Config, kind="macvlan", about=ABOUT, fields=fields)
