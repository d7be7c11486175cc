# SPDX-License-Identifier: Apache-2.0
"""The dummy plugin: a dummy link inside the container, with addresses from IPAM.

Keys of the reference: `ipam` (required). Useful to give a container an address that no
traffic path depends on (a service IP, a VIP).
"""

from __future__ import annotations

from cni import skel
from cni.errors import InvalidNetworkConfig
from cni.plugins._iface import (
    finish_add,
    interface_plugin,
    ipam_type,
    open_free_pod,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

ABOUT = "dummy plugin (cni package)"


def _require_ipam(args: skel.CmdArgs) -> None:
    if ipam_type(args) is None:
        raise InvalidNetworkConfig("dummy: ipam must be specified")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    _require_ipam(args)
    pod = open_free_pod(args)
    pod.add_link("dummy", args.ifname)
    return finish_add(pod, args)


PLUGIN = interface_plugin("dummy", add=cmd_add, validate=_require_ipam, kind="dummy", about=ABOUT)
