# SPDX-License-Identifier: Apache-2.0
"""The ipvlan plugin: an ipvlan link on a node interface, inside the container.

Keys of the reference: `master` (default: the interface of the node's IPv4 default route),
`mode` (l2, l3, l3s), `mtu`, `ipam`. `linkInContainer`, and the chained form that takes
addresses from prevResult without `ipam`, are refused with code 2 until they are built.
"""

from __future__ import annotations

import sys

from cni import skel
from cni.errors import UnsupportedField
from cni.plugins._iface import add_stacked_link, config_master, config_mode, config_mtu, ipam_type, plugin_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "ipvlan plugin (cni package)"
MODES = ("l2", "l3", "l3s")


def _config(args: skel.CmdArgs) -> tuple[str | None, str, int]:
    conf = args.conf
    if conf.get("linkInContainer") not in (None, False):
        raise UnsupportedField("ipvlan: linkInContainer is not supported yet by this plugin")
    if ipam_type(args) is None:
        raise UnsupportedField("ipvlan: without ipam (addresses from prevResult) is not supported yet")
    return config_master(conf, "ipvlan"), config_mode(conf, "ipvlan", MODES), config_mtu(conf, "ipvlan")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    master, mode, mtu = _config(args)
    notify = ((f"net/ipv6/conf/{args.ifname}/ndisc_notify", "1"),)
    return add_stacked_link(args, "ipvlan", master, mode=mode, mtu=mtu, sysctls=notify)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_config, kind="ipvlan", about=ABOUT, **io)


if __name__ == "__main__":
    sys.exit(main())
