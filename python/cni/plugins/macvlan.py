# SPDX-License-Identifier: Apache-2.0
"""The macvlan plugin: a macvlan link on a node interface, inside the container.

Keys of the reference: `master` (default: the interface of the node's IPv4 default route),
`mode` (bridge, private, vepa, passthru), `mtu` (at most the master's), `mac` (also
`runtimeConfig.mac` and CNI_ARGS `MAC=`), `ipam` (optional: without it the link is L2
only). The link is created directly inside the container's namespace. `linkInContainer`
and `bcqueuelen` are refused with code 2 until they are built.
"""

from __future__ import annotations

import sys

from cni import skel
from cni.errors import UnsupportedField
from cni.plugins._iface import (
    add_stacked_link,
    config_master,
    config_mode,
    config_mtu,
    plugin_main,
    requested_mac,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "macvlan plugin (cni package)"
MODES = ("bridge", "private", "vepa", "passthru")


def _config(args: skel.CmdArgs) -> tuple[str | None, str, int, str | None]:
    conf = args.conf
    for key in ("linkInContainer", "bcqueuelen"):
        if conf.get(key) not in (None, False, 0):
            raise UnsupportedField(f"macvlan: {key}={conf[key]!r} is not supported yet by this plugin")
    master = config_master(conf, "macvlan")
    return master, config_mode(conf, "macvlan", MODES), config_mtu(conf, "macvlan"), requested_mac(args)


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    master, mode, mtu, mac = _config(args)
    notify = ((f"net/ipv4/conf/{args.ifname}/arp_notify", "1"), (f"net/ipv6/conf/{args.ifname}/ndisc_notify", "1"))
    return add_stacked_link(args, "macvlan", master, mode=mode, mtu=mtu, mac=mac, sysctls=notify)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_config, kind="macvlan", about=ABOUT, **io)


if __name__ == "__main__":
    sys.exit(main())
