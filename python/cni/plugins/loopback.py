# SPDX-License-Identifier: Apache-2.0
"""The loopback plugin: bring `lo` up in the container (CNI_IFNAME is ignored).

ADD sets `lo` up and reports its addresses; chained after another plugin it passes the
previous result through. DEL sets `lo` down, and succeeds when the namespace is gone.
CHECK verifies `lo` is up. The SDK has already refused a CNI_NETNS that is the plugin's
own namespace, so the host's `lo` is never touched (kubernetes#100648).
"""

from __future__ import annotations

from cni import skel, versions
from cni._native import Netlink
from cni.errors import CNIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

ABOUT = "loopback plugin (cni package)"


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    nl = Netlink(args.netns)
    nl.set_link("lo", up=True)
    prev = args.conf.get("prevResult")
    if isinstance(prev, dict):
        return prev
    addresses = [a for a in nl.addresses("lo") if a.startswith(("127.", "::1/"))]
    return {
        "cniVersion": versions.CURRENT,
        "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": args.netns}],
        "ips": [{"interface": 0, "address": a} for a in addresses],
    }


def cmd_del(args: skel.CmdArgs) -> None:
    if not args.netns:
        return
    try:
        nl = Netlink(args.netns)
    except CNIError:
        return  # the namespace is gone: nothing to undo
    nl.set_link("lo", up=False)


def cmd_check(args: skel.CmdArgs) -> None:
    link = Netlink(args.netns).link("lo")
    if link is None or not link.up:
        raise CNIError("loopback interface is down")


PLUGIN = skel.Plugin("loopback", add=cmd_add, delete=cmd_del, check=cmd_check, about=ABOUT)
