# SPDX-License-Identifier: Apache-2.0
"""The vlan plugin: an 802.1q link on a node interface, inside the container.

Keys of the reference: `master` (required), `vlanId` (0-4094), `mtu` (at most the
master's), `linkInContainer` (the master lives in the container's namespace), `ipam`
(required).
"""

from __future__ import annotations

from cni import skel
from cni.errors import InvalidNetworkConfig
from cni.plugins._iface import add_stacked_link, config_bool, config_master, config_mtu, interface_plugin, ipam_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "vlan plugin (cni package)"


def _config(args: skel.CmdArgs) -> tuple[str, int, int, bool]:
    conf = args.conf
    if ipam_type(args) is None:
        raise InvalidNetworkConfig("vlan: ipam must be specified")
    master = config_master(conf, "vlan", required=True)
    assert master is not None
    vlan_id = conf.get("vlanId")
    if not isinstance(vlan_id, int) or isinstance(vlan_id, bool) or not 0 <= vlan_id <= 4094:
        raise InvalidNetworkConfig(f"vlan: invalid vlanId {vlan_id!r} (must be between 0 and 4094)")
    return master, vlan_id, config_mtu(conf, "vlan"), config_bool(conf, "linkInContainer", "vlan")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    master, vlan_id, mtu, in_container = _config(args)
    return add_stacked_link(args, "vlan", master, vlan_id=vlan_id, mtu=mtu, in_container=in_container)


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import LINK_IN_CONTAINER, MASTER, MTU, integer

    return (
        MASTER,
        integer("vlanId", 0, 4094, "the 802.1q VLAN ID"),
        MTU,
        LINK_IN_CONTAINER,
    )


PLUGIN = interface_plugin("vlan", add=cmd_add, validate=_config, kind="vlan", about=ABOUT, fields=fields)
