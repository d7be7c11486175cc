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

from cni import cniargs, skel
from cni._native import Netlink
from cni.errors import CNIError, InvalidNetworkConfig, UnsupportedField
from cni.plugins._iface import (
    finish_add,
    plugin_main,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "macvlan plugin (cni package)"
MODES = ("bridge", "private", "vepa", "passthru")


def _default_route_interface(node: Netlink) -> str:
    for route in node.routes(4):
        if route["dst"] == "0.0.0.0/0" and route["table"] == 254 and route["oif"] is not None:
            for link in node.links():
                if link["index"] == route["oif"]:
                    return str(link["name"])
    raise InvalidNetworkConfig("macvlan: no master given and the node has no IPv4 default route")


def _config(args: skel.CmdArgs) -> tuple[str | None, str, int, str | None]:
    conf = args.conf
    for key in ("linkInContainer", "bcqueuelen"):
        if conf.get(key) not in (None, False, 0):
            raise UnsupportedField(f"macvlan: {key}={conf[key]!r} is not supported yet by this plugin")
    master = conf.get("master")
    if master is not None and (not isinstance(master, str) or not master):
        raise InvalidNetworkConfig(f"macvlan: invalid master {master!r}")
    mode = conf.get("mode") or "bridge"
    if mode not in MODES:
        raise InvalidNetworkConfig(f"macvlan: unknown mode {mode!r}", f"one of {', '.join(MODES)}")
    mtu = conf.get("mtu", 0)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 0:
        raise InvalidNetworkConfig(f"macvlan: invalid mtu {mtu!r}")
    runtime = conf.get("runtimeConfig")
    mac = runtime.get("mac") if isinstance(runtime, dict) else None
    if not isinstance(mac, str):
        mac = conf.get("mac") if isinstance(conf.get("mac"), str) else None
    mac = mac or cniargs.load(args.args, ["MAC"]).get("MAC") or None
    return master, str(mode), mtu, mac  # type: ignore[return-value]


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    master, mode, mtu, mac = _config(args)
    pod = Netlink(args.netns)
    if pod.link(args.ifname) is not None:
        raise CNIError(f"container interface name provided ({args.ifname}) already exists")
    node = Netlink()
    master = master or _default_route_interface(node)
    parent = node.link(master)
    if parent is None:
        raise InvalidNetworkConfig(f"macvlan: failed to find master {master!r}")
    if mtu and mtu > int(str(parent["mtu"])):
        raise InvalidNetworkConfig(f"macvlan: mtu {mtu} is larger than master {master}'s {parent['mtu']}")
    node.add_lower("macvlan", args.ifname, master, mode=mode, netns=args.netns, mtu=mtu, mac=mac)
    sysctls = ((f"net/ipv4/conf/{args.ifname}/arp_notify", "1"), (f"net/ipv6/conf/{args.ifname}/ndisc_notify", "1"))
    return finish_add(pod, args, sysctls)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_config, kind="macvlan", about=ABOUT, **io)


if __name__ == "__main__":
    sys.exit(main())
