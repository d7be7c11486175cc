# SPDX-License-Identifier: Apache-2.0
"""The dummy plugin: a dummy link inside the container, with addresses from IPAM.

Keys of the reference: `ipam` (required). Useful to give a container an address that no
traffic path depends on (a service IP, a VIP).
"""

from __future__ import annotations

import sys

from cni import skel
from cni.errors import InvalidNetworkConfig
from cni.plugins._iface import (
    finish_add,
    ipam_type,
    open_free_pod,
    plugin_main,
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
    pod = open_free_pod(args)
    pod.add_link("dummy", args.ifname)
    return finish_add(pod, args)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_require_ipam, kind="dummy", about=ABOUT, **io)


if __name__ == "__main__":
    sys.exit(main())
