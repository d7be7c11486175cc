# SPDX-License-Identifier: Apache-2.0
"""The plugins this package ships: the one table `cni install`, delegation, the tests and
the agent read.

Each entry names a plugin by the reference type runtimes exec it as, the module holding
its :class:`cni.skel.Plugin` (as `PLUGIN`), and its kind. Modules are imported only when
their plugin runs: the plugin path stays the plugin's own.

`cni install DIR` also writes `DIR/.cni-plugins.json`, the installation's manifest: which
executables it wrote (by file identity) for which type, and which installation of this
package it was. Delegation asks :func:`installed_type` whether the executable CNI_PATH
gives for a delegate is one of ours, of this installation, and then runs the delegate in
this process. That holds whatever the executable is (a Python launcher, a native shim, a
hard link), and an executable that another installation wrote, or that was replaced since,
is exec'd as any other plugin.
"""

from __future__ import annotations

import posix
import sys

from cni import _posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cni.skel import Plugin

INTERFACE = "interface"
IPAM = "ipam"
META = "meta"
MANIFEST = ".cni-plugins.json"


class Entry:
    """One shipped plugin: its type name, its module and its kind."""

    __slots__ = ("kind", "module", "type")

    def __init__(self, plugin_type: str, module: str, kind: str) -> None:
        self.type = plugin_type
        self.module = module
        self.kind = kind

    def plugin(self) -> Plugin:
        """The plugin's handlers and declared keys (imports its module)."""
        # `importlib` costs an import of its own on the plugin path; `__import__` will do.
        __import__(self.module)
        plugin: Plugin = sys.modules[self.module].PLUGIN
        return plugin


PLUGINS: tuple[Entry, ...] = (
    Entry("bridge", "cni.plugins.bridge", INTERFACE),
    Entry("dummy", "cni.plugins.dummy", INTERFACE),
    Entry("host-device", "cni.plugins.host_device", INTERFACE),
    Entry("ipvlan", "cni.plugins.ipvlan", INTERFACE),
    Entry("loopback", "cni.plugins.loopback", INTERFACE),
    Entry("macvlan", "cni.plugins.macvlan", INTERFACE),
    Entry("ptp", "cni.plugins.ptp", INTERFACE),
    Entry("tap", "cni.plugins.tap", INTERFACE),
    Entry("vlan", "cni.plugins.vlan", INTERFACE),
    Entry("cluster-ipam", "cni.plugins.cluster_ipam", IPAM),
    Entry("dhcp", "cni.plugins.dhcp", IPAM),
    Entry("host-local", "cni.plugins.host_local", IPAM),
    Entry("static", "cni.plugins.static", IPAM),
    Entry("bandwidth", "cni.plugins.bandwidth", META),
    Entry("firewall", "cni.plugins.firewall", META),
    Entry("portmap", "cni.plugins.portmap", META),
    Entry("sbr", "cni.plugins.sbr", META),
    Entry("tuning", "cni.plugins.tuning", META),
    Entry("vrf", "cni.plugins.vrf", META),
)

_BY_TYPE = {entry.type: entry for entry in PLUGINS}


def find(plugin_type: str) -> Entry | None:
    return _BY_TYPE.get(plugin_type)


def run(plugin_type: str, **io: Any) -> int:
    """Runs one of our plugins for one invocation (what every launcher calls); `io` may
    inject env, stdin, stdout and stderr, as in-process delegation does."""
    from cni import skel

    entry = _BY_TYPE[plugin_type]  # callers pass a type this table gave them
    return skel.run(entry.plugin(), **io)


def installation() -> str:
    """Which installation of the package this is: where `cni` is imported from."""
    import cni

    return _posix.dirname(_posix.dirname(_posix.absolute(cni.__file__)))


def file_identity(st: posix.stat_result) -> list[int]:
    """What tells a written executable from one put in its place later."""
    return [st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size]


def installed_type(path: str) -> str | None:
    """The plugin type if `path` is an executable this installation wrote, else None."""
    from cni._native import loads
    from cni.errors import CNIError

    directory = _posix.dirname(path)
    try:
        fd = posix.open(_posix.join(directory, MANIFEST), posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            data = posix.read(fd, 1 << 16)
        finally:
            posix.close(fd)
        manifest = loads(data)
        st = posix.stat(path)
    except (OSError, CNIError):
        return None
    import cni

    if not isinstance(manifest, dict) or manifest.get("installation") != installation():
        return None
    if manifest.get("version") != cni.__version__:
        return None
    plugins = manifest.get("plugins")
    record = plugins.get(_posix.basename(path)) if isinstance(plugins, dict) else None
    if not isinstance(record, dict) or record.get("identity") != file_identity(st):
        return None
    plugin_type = record.get("type")
    return plugin_type if isinstance(plugin_type, str) and find(plugin_type) is not None else None
