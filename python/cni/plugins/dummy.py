# SPDX-License-Identifier: Apache-2.0
"""The dummy plugin: a dummy link inside the container, with addresses from IPAM.

Keys of the reference: `ipam` (required). Useful to give a container an address that no
traffic path depends on (a service IP, a VIP).
"""

from __future__ import annotations

import sys

from cni import skel
from cni._native import Netlink
from cni.errors import CNIError, InvalidNetworkConfig
from cni.plugins._iface import (
    check_container,
    delete_container_link,
    finish_add,
    ipam_del,
    ipam_forward,
    ipam_type,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "dummy plugin (cni package)"


def _require_ipam(args: skel.CmdArgs) -> None:
    if ipam_type(args) is None:
        raise InvalidNetworkConfig("dummy: ipam must be specified")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    _require_ipam(args)
    pod = Netlink(args.netns)
    if pod.link(args.ifname) is not None:
        raise CNIError(f"container interface name provided ({args.ifname}) already exists")
    pod.add_link("dummy", args.ifname)
    return finish_add(pod, args)


def cmd_del(args: skel.CmdArgs) -> None:
    _require_ipam(args)
    delete_container_link(args)
    ipam_del(args)


def cmd_check(args: skel.CmdArgs) -> None:
    _require_ipam(args)
    ipam_forward(args)
    link = check_container(args)
    if link["kind"] != "dummy":
        raise CNIError(f"{args.ifname} is a {link['kind']} link, not dummy")


def cmd_forward(args: skel.CmdArgs) -> None:
    _require_ipam(args)
    ipam_forward(args)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return skel.plugin_main(
        add=cmd_add, delete=cmd_del, check=cmd_check, status=cmd_forward, gc=cmd_forward, about=ABOUT, **io
    )


if __name__ == "__main__":
    sys.exit(main())
