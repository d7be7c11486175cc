# SPDX-License-Identifier: Apache-2.0
"""The host-device plugin: move an existing node interface into the container.

Keys of the reference: one of `device` (name), `hwaddr` (MAC), `kernelpath` (a device
under `/sys/devices/`, whose `net/` directory names the interface), `pciBusID`;
`runtimeConfig.deviceID` takes their place and names a PCI device or, as device plugins
for sub-functions report them, an auxiliary-bus device; `ipam` is optional. The move and
the rename to CNI_IFNAME are one netlink request, so the interface never appears under a
new name on the node (no race with udev or NetworkManager) nor collides with a name in the
container; its node name is kept in its alias, and DEL moves it back under that name.

A PCI device bound to a userspace driver (vfio-pci, uio_pci_generic, igb_uio) has no
kernel interface: that is DPDK mode, as in the reference. Nothing moves, the result has no
interface, IPAM still runs when configured (its addresses are for the application to use),
and DEL only releases them.
"""

from __future__ import annotations

import posix

from cni import _posix, skel, versions
from cni._native import Netlink
from cni.errors import InvalidNetworkConfig
from cni.plugins._iface import (
    check_container,
    finish_add,
    interface_plugin,
    ipam_add,
    ipam_del,
    ipam_forward,
    ipam_type,
    open_free_pod,
    open_pod,
    result_ips,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

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


USERSPACE_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")
_BUSES = ("/sys/bus/pci/devices", "/sys/bus/auxiliary/devices")


def _bus_device(device_id: str) -> str:
    """The sysfs directory of a PCI or auxiliary-bus device ID."""
    if not device_id or "/" in device_id or device_id.startswith("."):
        raise InvalidNetworkConfig(f"host-device: invalid device ID {device_id!r}")
    for bus in _BUSES:
        path = f"{bus}/{device_id}"
        if _posix.is_dir(path):
            return path
    raise InvalidNetworkConfig(f"host-device: no PCI or auxiliary device {device_id!r} on this node")


def _userspace_driver(device_dir: str) -> str | None:
    """The DPDK-capable driver the device is bound to, if any."""
    try:
        driver = _posix.basename(posix.readlink(_posix.join(device_dir, "driver")))
    except OSError:  # unbound, or not a link
        return None
    return driver if driver in USERSPACE_DRIVERS else None


def _net_names(device_dir: str) -> list[str]:
    """Interfaces a device provides: its `net/`, or a virtio child's."""
    candidates = [_posix.join(device_dir, "net")]
    try:
        candidates += [
            _posix.join(device_dir, d, "net") for d in sorted(posix.listdir(device_dir)) if d.startswith("virtio")
        ]
    except OSError:
        pass
    for directory in candidates:
        try:
            return sorted(posix.listdir(directory))
        except OSError:
            continue
    return []


def _kernel_path_names(path: str) -> list[str]:
    if not path.startswith("/sys/devices/") or "/../" in f"{path}/":
        raise InvalidNetworkConfig(f"host-device: kernelpath {path!r} must be absolute and begin with /sys/devices/")
    try:
        return sorted(posix.listdir(_posix.join(path, "net")))
    except OSError:
        raise InvalidNetworkConfig(f"host-device: no network interface under {path}/net") from None


def _find(node: Netlink, key: str, value: str) -> str:
    """The node name of the selected interface."""
    if key == "device":
        names = [value]
    elif key == "hwaddr":
        wanted = value.lower()
        names = [link.name for link in node.links() if link.mac.lower() == wanted]
    elif key == "kernelpath":
        names = _kernel_path_names(value)
    else:
        names = _net_names(_bus_device(value))
    # As the reference: the first name that is an interface of this namespace.
    for name in names:
        if node.link(name) is not None:
            return name
    raise InvalidNetworkConfig(f"host-device: no interface with {key} {value!r} on the node")


def _dpdk_device(key: str, value: str) -> str | None:
    """For a device in DPDK mode, its driver."""
    return _userspace_driver(_bus_device(value)) if key == "pciBusID" else None


def _dpdk_add(args: skel.CmdArgs) -> dict[str, object]:
    """DPDK mode: nothing to move; the addresses IPAM gives belong to no kernel interface."""
    if ipam_type(args) is None:
        return {"cniVersion": versions.CURRENT, "interfaces": []}
    result = ipam_add(args)
    result["interfaces"] = []
    for ip in result_ips(result):
        ip.pop("interface", None)
    return result


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    key, value = _selector(args)
    if _dpdk_device(key, value):
        return _dpdk_add(args)
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
    original = link.alias if isinstance(link.alias, str) and link.alias else args.ifname
    for address in pod.addresses(args.ifname):
        if not address.startswith("fe80:"):
            pod.del_address(args.ifname, address)
    pod.set_link(args.ifname, up=False)
    pod.set_link(args.ifname, netns=f"/proc/{posix.getpid()}/ns/net", new_name=str(original))


def cmd_del(args: skel.CmdArgs) -> None:
    """The interface goes back to the node first, then its addresses are released."""
    from cni.plugins._teardown import Teardown

    key, value = _selector(args)
    teardown = Teardown("host-device")
    if not _dpdk_device_if_present(key, value):
        teardown.step("move the device back to the node", _move_back, args)
    teardown.step("release the addresses (IPAM DEL)", ipam_del, args)
    teardown.finish()


def _dpdk_device_if_present(key: str, value: str) -> str | None:
    # DEL must succeed for a device that is gone from the node meanwhile.
    try:
        return _dpdk_device(key, value)
    except InvalidNetworkConfig:
        return None


def cmd_check(args: skel.CmdArgs) -> None:
    """IPAM's CHECK, then the interface's; a DPDK-mode attachment has no interface."""
    key, value = _selector(args)
    ipam_forward(args)
    if not _dpdk_device(key, value):
        check_container(args)


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import ifname, mac, path_string

    return (
        ifname("device", "the device, by name"),
        mac("hwaddr", "the device, by MAC address"),
        path_string("kernelpath", "the device, by its sysfs path"),
        path_string("pciBusID", "the device, by PCI address"),
        path_string("runtimeConfig.deviceID", "the device, by PCI or auxiliary-bus ID (from the runtime)"),
    )


PLUGIN = interface_plugin(
    "host-device",
    add=cmd_add,
    validate=_selector,
    kind=None,
    about=ABOUT,
    delete=cmd_del,
    check=cmd_check,
    fields=fields,
)
