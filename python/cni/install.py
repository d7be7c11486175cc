# SPDX-License-Identifier: Apache-2.0
"""Writing plugin executables into a CNI_PATH directory (`cni install DIR`).

Under each plugin's reference type goes `cni-shim` (Rust, built with the package; one file,
hard-linked under every name), which hands the invocation to the warm agent (`cni agent`)
when one serves the socket named in `DIR/.cni-shim.conf`, and otherwise execs the plugin's
Python launcher in `DIR/.cni-launchers/`. A launcher's first line starts this interpreter
with `-I -S` (no site, no environment: about 17 ms instead of 90+) and it sets `sys.path` to
exactly where this package lives. `launchers_only` writes the launchers into DIR itself, as
before the warm path. Beside them goes the installation's manifest
(:data:`cni.plugins.registry.MANIFEST`), by which delegation knows its own plugins, and
`cni install --systemd UNITDIR` writes the agent's socket and service units.
"""

from __future__ import annotations

import os
import sys

import cni
from cni._native import dumps
from cni.agent import DEFAULT_SOCKET
from cni.plugins import registry

#: Where the launchers go when the shim takes the plugins' names (the shim's `LAUNCHERS`).
LAUNCHERS = ".cni-launchers"
#: The shim's settings file (the shim's `CONF`).
SHIM_CONF = ".cni-shim.conf"

_HEADER = """#!{interpreter} -IS
# {name}: CNI plugin from the cni package {version}, written by `cni install`.
import sys
sys.path[:0] = {paths!r}
"""
# The plugin's module straight away: the registry is for install, delegation and tests,
# and would be one more import on every exec.
_RUN_SHIPPED = """from cni.skel import run
from {module} import PLUGIN
sys.exit(run(PLUGIN))
"""
# A plugin of another module (the tests' echo plugin) with a `main() -> int`.
_RUN_MODULE = """from {module} import main
sys.exit(main())
"""


def package_paths() -> list[str]:
    """The directories a launcher must put on `sys.path` to import `cni` and its dependencies."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(cni.__file__)))
    paths = [here]
    import pydantic  # only for its location: the spec layer is imported off the hot path

    deps = os.path.dirname(os.path.dirname(os.path.abspath(pydantic.__file__)))
    if deps not in paths:
        paths.append(deps)
    return paths


def launcher(
    name: str, *, plugin_type: str = "", module: str = "", extra_paths: list[str] | tuple[str, ...] = ()
) -> str:
    """The text of the launcher that runs shipped plugin `plugin_type`, or `main()` of
    `module`, as executable `name`."""
    interpreter = os.path.realpath(sys.executable)
    head = _HEADER.format(
        interpreter=interpreter, name=name, version=cni.__version__, paths=[*extra_paths, *package_paths()]
    )
    if plugin_type:
        entry = registry.find(plugin_type)
        assert entry is not None, plugin_type
        body = _RUN_SHIPPED.format(module=entry.module)
    else:
        body = _RUN_MODULE.format(module=module)
    return head + body


def shim_binary() -> str:
    """The `cni-shim` built with this package (`make build`, or the wheel)."""
    path = os.path.join(os.path.dirname(os.path.abspath(cni.__file__)), "_bin", "cni-shim")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} is missing: build the package (make build) or install with --launchers")
    return path


def install(
    directory: str,
    plugins: dict[str, str] | None = None,
    extra_paths: list[str] | tuple[str, ...] = (),
    *,
    launchers_only: bool = False,
    agent_socket: str = DEFAULT_SOCKET,
) -> list[str]:
    """Writes an executable per plugin into `directory` (created if needed); returns the names.

    Without `plugins`, the plugins this package ships (:mod:`cni.plugins.registry`): the
    shim under each name with the launchers in `.cni-launchers/` (or, `launchers_only`, the
    launchers themselves), the shim's settings (`agent_socket`) and the manifest that lets
    delegation run them in-process. `plugins` maps executable names to other modules with a
    `main()` instead, always as launchers (the agent serves only this package's plugins).
    `extra_paths` go first on the launchers' `sys.path`.

    Each file is written beside its target and renamed over it, so a runtime exec'ing the
    plugin meanwhile sees the old file or the new one.
    """
    os.makedirs(directory, mode=0o755, exist_ok=True)
    shipped = plugins is None
    wanted = {e.type: e.type for e in registry.PLUGINS} if plugins is None else plugins
    shimmed = shipped and not launchers_only
    launcher_dir = os.path.join(directory, LAUNCHERS) if shimmed else directory
    if shimmed:
        os.makedirs(launcher_dir, mode=0o755, exist_ok=True)
        shim = os.path.join(launcher_dir, "cni-shim")
        _copy(shim_binary(), shim)
        _replace(os.path.join(directory, SHIM_CONF), f"socket={os.path.abspath(agent_socket)}\n", 0o644)
    written: dict[str, dict[str, object]] = {}
    for name, target_of in sorted(wanted.items()):
        text = (
            launcher(name, plugin_type=target_of, extra_paths=extra_paths)
            if shipped
            else launcher(name, module=target_of, extra_paths=extra_paths)
        )
        _replace(os.path.join(launcher_dir, name), text, 0o755)
        target = os.path.join(directory, name)
        if shimmed:
            _link(shim, target)
        written[name] = {"type": target_of, "identity": registry.file_identity(os.stat(target))}
    if shipped:
        manifest = {"installation": registry.installation(), "version": cni.__version__, "plugins": written}
        _replace(os.path.join(directory, registry.MANIFEST), dumps(manifest, 2) + "\n", 0o644)
    return sorted(written)


def _link(source: str, target: str) -> None:
    tmp = f"{target}.cni-install-{os.getpid()}"
    os.link(source, tmp)
    os.rename(tmp, target)


def _copy(source: str, target: str) -> None:
    tmp = f"{target}.cni-install-{os.getpid()}"
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read())
    os.chmod(tmp, 0o755)
    os.rename(tmp, target)


_SOCKET_UNIT = """[Unit]
Description={description} socket

[Socket]
ListenStream={socket}
SocketMode=0600
DirectoryMode={directory_mode}

[Install]
WantedBy=sockets.target
"""

_SERVICE_UNIT = """[Unit]
Description={description}
Requires={unit}.socket
After={unit}.socket

[Service]
ExecStart={interpreter} -m cni.cli {command} --socket {socket}
Environment=PYTHONPATH={paths}
KillMode=process
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def write_units(directory: str, agent_socket: str = DEFAULT_SOCKET) -> list[str]:
    """Writes the socket and service units of the agent (`cni-agent`) and of the dhcp
    plugin's daemon (`cni-dhcp`, on the reference's socket) into `directory` (systemd socket
    activation). `KillMode=process`: stopping the agent lets running requests finish."""
    from cni.dhcp import DEFAULT_SOCKET as DHCP_SOCKET

    os.makedirs(directory, mode=0o755, exist_ok=True)
    interpreter, paths = os.path.realpath(sys.executable), ":".join(package_paths())
    services = (
        (
            "cni-agent",
            "cni warm plugin agent: CNI plugins without a Python start per operation",
            "agent",
            os.path.abspath(agent_socket),
            "0700",
        ),
        ("cni-dhcp", "cni dhcp daemon: DHCP leases for the dhcp IPAM plugin", "dhcp daemon", DHCP_SOCKET, "0755"),
    )
    units = {}
    for unit, description, command, socket_path, directory_mode in services:
        units[f"{unit}.socket"] = _SOCKET_UNIT.format(
            description=description.split(":")[0], socket=socket_path, directory_mode=directory_mode
        )
        units[f"{unit}.service"] = _SERVICE_UNIT.format(
            description=description,
            unit=unit,
            interpreter=interpreter,
            command=command,
            socket=socket_path,
            paths=paths,
        )
    for name, text in units.items():
        _replace(os.path.join(directory, name), text, 0o644)
    return sorted(units)


def _replace(target: str, text: str, mode: int) -> None:
    tmp = f"{target}.cni-install-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, target)
