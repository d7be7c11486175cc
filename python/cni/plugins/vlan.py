# SPDX-License-Identifier: Apache-2.0
"""The vlan plugin: an 802.1q link on a node interface, inside the container.

Keys of the reference: `master` (required), `vlanId` (0-4094), `mtu` (at most the
master's), `ipam` (required). `linkInContainer` is refused with code 2 until it is built.
"""

from __future__ import annotations

import sys

from cni import skel
from cni.errors import InvalidNetworkConfig, UnsupportedField
from cni.plugins._iface import add_stacked_link, config_master, config_mtu, ipam_type, plugin_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "vlan plugin (cni package)"


def _config(args: skel.CmdArgs) -> tuple[str, int, int]:
    conf = args.conf
    if conf.get("linkInContainer") not in (None, False):
        raise UnsupportedField("vlan: linkInContainer is not supported yet by this plugin")
    if ipam_type(args) is None:
        raise InvalidNetworkConfig("vlan: ipam must be specified")
    master = config_master(conf, "vlan", required=True)
    assert master is not None
    vlan_id = conf.get("vlanId")
    if not isinstance(vlan_id, int) or isinstance(vlan_id, bool) or not 0 <= vlan_id <= 4094:
        raise InvalidNetworkConfig(f"vlan: invalid vlanId {vlan_id!r} (must be between 0 and 4094)")
    return master, vlan_id, config_mtu(conf, "vlan")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    master, vlan_id, mtu = _config(args)
    return add_stacked_link(args, "vlan", master, vlan_id=vlan_id, mtu=mtu)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_config, kind="vlan", about=ABOUT, **io)


if __name__ == "__main__":
    sys.exit(main())
