# SPDX-License-Identifier: Apache-2.0
"""Writing plugin executables into a CNI_PATH directory (`cni install DIR`).

Each executable is a small Python launcher, named after the plugin's reference type, whose
first line starts this interpreter with `-I -S` (no site, no environment: about 17 ms
instead of 90+) and which sets `sys.path` to exactly where this package lives. No shell
shim sits in between. Beside them goes the installation's manifest
(:data:`cni.plugins.registry.MANIFEST`), by which delegation knows its own plugins.
"""

from __future__ import annotations

import os
import sys

import cni
from cni._native import dumps
from cni.plugins import registry

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


def install(
    directory: str, plugins: dict[str, str] | None = None, extra_paths: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """Writes a launcher per plugin into `directory` (created if needed); returns the names.

    Without `plugins`, the plugins this package ships (:mod:`cni.plugins.registry`), and the
    manifest that lets delegation run them in-process; `plugins` maps executable names to
    other modules with a `main()` instead. `extra_paths` go first on the launchers'
    `sys.path`.

    Each file is written beside its target and renamed over it, so a runtime exec'ing the
    plugin meanwhile sees the old file or the new one.
    """
    os.makedirs(directory, mode=0o755, exist_ok=True)
    shipped = plugins is None
    wanted = {e.type: e.type for e in registry.PLUGINS} if plugins is None else plugins
    written: dict[str, dict[str, object]] = {}
    for name, target_of in sorted(wanted.items()):
        text = (
            launcher(name, plugin_type=target_of, extra_paths=extra_paths)
            if shipped
            else launcher(name, module=target_of, extra_paths=extra_paths)
        )
        target = os.path.join(directory, name)
        _replace(target, text, 0o755)
        written[name] = {"type": target_of, "identity": registry.file_identity(os.stat(target))}
    if shipped:
        manifest = {"installation": registry.installation(), "version": cni.__version__, "plugins": written}
        _replace(os.path.join(directory, registry.MANIFEST), dumps(manifest, 2) + "\n", 0o644)
    return sorted(written)


def _replace(target: str, text: str, mode: int) -> None:
    tmp = f"{target}.cni-install-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, target)
