# SPDX-License-Identifier: Apache-2.0
"""The host-device plugin: move an existing node interface into the container.

Keys of the reference: one of `device` (name), `hwaddr` (MAC), `kernelpath`
(`/sys/devices/...` path of the interface), `pciBusID`; `runtimeConfig.deviceID` (a PCI
address) takes their place; `ipam` is optional. The move and the rename to CNI_IFNAME are one
netlink request, so the interface never appears under a new name on the node (no race with
udev or NetworkManager) nor collides with a name in the container; its node name is kept in
its alias, and DEL moves it back under that name. DPDK-bound devices are not handled (code 2).
"""

from __future__ import annotations

import os
import sys

from cni import skel
from cni._native import Netlink
from cni.errors import InvalidNetworkConfig, UnsupportedField
from cni.plugins._iface import finish_add, ipam_del, open_free_pod, open_pod, plugin_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ABOUT = "host-device plugin (cni package)"
SELECTORS = ("device", "hwaddr", "kernelpath", "pciBusID")


def _selector(args: skel.CmdArgs) -> tuple[str, str]:
    conf = args.conf
    runtime = conf.get("runtimeConfig")
    device_id = runtime.get("deviceID") if isinstance(runtime, dict) else None
    given = [(key, conf[key]) for key in SELECTORS if conf.get(key)]
    if isinstance(device_id, str) and device_id:
        given = [("pciBusID", device_id)]
    if len(given) != 1 or not isinstance(given[0][1], str):
        raise InvalidNetworkConfig(
            "host-device: specify exactly one of device, hwaddr, kernelpath, pciBusID (or runtimeConfig.deviceID)"
        )
    return given[0][0], str(given[0][1])


def _find(node: Netlink, key: str, value: str) -> str:
    """The node name of the selected interface."""
    if key == "device":
        name = value
    elif key == "hwaddr":
        wanted = value.lower()
        name = next((str(link["name"]) for link in node.links() if str(link["mac"]).lower() == wanted), "")
    elif key == "kernelpath":
        name = os.path.basename(value.rstrip("/"))
    else:
        try:
            names = os.listdir(f"/sys/bus/pci/devices/{value}/net")
        except OSError:
            raise UnsupportedField(f"host-device: PCI device {value} has no network interface (DPDK?)") from None
        name = names[0] if names else ""
    if not name or node.link(name) is None:
        raise InvalidNetworkConfig(f"host-device: no interface with {key} {value!r} on the node")
    return name


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    key, value = _selector(args)
    pod = open_free_pod(args)
    node = Netlink()
    name = _find(node, key, value)
    # Remember the node name, move and rename in one request.
    node.set_link(name, up=False, alias=name)
    node.set_link(name, netns=args.netns, new_name=args.ifname)
    return finish_add(pod, args)


def _move_back(args: skel.CmdArgs) -> None:
    pod = open_pod(args)
    link = pod.link(args.ifname) if pod is not None else None
    if pod is None or link is None:
        return
    original = link["alias"] if isinstance(link["alias"], str) and link["alias"] else args.ifname
    for address in pod.addresses(args.ifname):
        if not address.startswith("fe80:"):
            pod.del_address(args.ifname, address)
    pod.set_link(args.ifname, up=False)
    pod.set_link(args.ifname, netns=f"/proc/{os.getpid()}/ns/net", new_name=str(original))


def cmd_del(args: skel.CmdArgs) -> None:
    """The interface goes back to the node first, then its addresses are released."""
    _selector(args)
    _move_back(args)
    ipam_del(args)


def main(**io: Any) -> int:
    """Runs the plugin; `io` may inject env, stdin, stdout and stderr (in-process delegation)."""
    return plugin_main(add=cmd_add, validate=_selector, kind=None, about=ABOUT, delete=cmd_del, **io)


if __name__ == "__main__":
    sys.exit(main())
