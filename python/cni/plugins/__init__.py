# SPDX-License-Identifier: Apache-2.0
"""The plugins this package ships, by the reference type name runtimes exec them as.

Each module has a `main() -> int` that runs :func:`cni.skel.plugin_main`. `cni install`
writes one launcher per entry; this table is the only list of plugins.
"""

#: Reference type name -> module with the plugin's `main()`.
PLUGINS: dict[str, str] = {
    "bridge": "cni.plugins.bridge",
    "dummy": "cni.plugins.dummy",
    "host-device": "cni.plugins.host_device",
    "host-local": "cni.plugins.host_local",
    "ipvlan": "cni.plugins.ipvlan",
    "loopback": "cni.plugins.loopback",
    "macvlan": "cni.plugins.macvlan",
    "ptp": "cni.plugins.ptp",
    "static": "cni.plugins.static",
    "tap": "cni.plugins.tap",
    "vlan": "cni.plugins.vlan",
}
