# SPDX-License-Identifier: Apache-2.0
"""Delegation from a plugin to another (usually IPAM), as the spec describes it.

The delegate gets the caller's environment with only CNI_COMMAND changed and the caller's
complete stdin; its stderr is the caller's. A failed delegated ADD is followed by the
delegate's DEL before the error is returned, so nothing it reserved leaks.

When the executable found in CNI_PATH is a launcher `cni install` wrote for this very
package, the delegate runs in this process instead: the same SDK entry point with the same
environment and stdin, minus a process start (about 20 ms each here). Anything else, or a
launcher of another installation, is exec'd.
"""

from __future__ import annotations

from cni import _posix
from cni.conf import split_path
from cni.invoke import Completed, find_in_path, plugin_error, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Delegates are other plugins on this node; they get a generous bound, not none.
DELEGATE_TIMEOUT = 120.0


_LAUNCHER_IMPORT = "from cni.plugins."


def our_plugin_module(path: str) -> str | None:
    """The module of one of our plugins if `path` is a launcher for this installation."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024).decode(errors="replace")
    except OSError:
        return None
    lines = head.splitlines()
    module = next((ln[5:].split()[0] for ln in lines if ln.startswith(_LAUNCHER_IMPORT)), None)
    paths = next((ln for ln in lines if ln.startswith("sys.path[:0] = [")), "")
    import cni

    here = _posix.dirname(_posix.dirname(_posix.absolute(cni.__file__)))
    if module is None or not paths.startswith(f"sys.path[:0] = [{here!r}"):
        return None
    return module


def _run_in_process(module_name: str, env: dict[str, str], stdin: bytes) -> Completed:
    import io
    import sys

    # `importlib` costs an import of its own on the plugin path; `__import__` does the same job.
    __import__(module_name)
    module = sys.modules[module_name]
    out = io.StringIO()
    status = module.main(env=env, stdin=io.BytesIO(stdin), stdout=out)
    return Completed(status, out.getvalue().encode(), b"")


def _exec(plugin_type: str, command: str, stdin: bytes, env: Mapping[str, str] | None) -> bytes:
    base = _posix.environ() if env is None else dict(env)
    base["CNI_COMMAND"] = command
    path = find_in_path(plugin_type, split_path(base.get("CNI_PATH", "")))
    module = our_plugin_module(path)
    if module is not None:
        completed = _run_in_process(module, base, stdin)
    else:
        completed = run(path, base, stdin, timeout=DELEGATE_TIMEOUT, capture_stderr=False)
    if completed.returncode != 0:
        raise plugin_error(path, completed)
    return completed.stdout


def delegate_add(plugin_type: str, stdin: bytes, env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Runs the delegate's ADD and returns its result (as it printed it)."""
    from cni._native import loads
    from cni.errors import CNIError, DecodingFailure

    try:
        out = _exec(plugin_type, "ADD", stdin, env)
        result = loads(out)
        if not isinstance(result, dict):
            raise DecodingFailure(f"delegate {plugin_type} printed a result that is not an object")
    except CNIError:
        try:
            delegate_del(plugin_type, stdin, env)
        except CNIError:
            # The ADD's error is the one to report; DEL was a best effort.
            pass
        raise
    return result


def delegate_del(plugin_type: str, stdin: bytes, env: Mapping[str, str] | None = None) -> None:
    """Runs the delegate's DEL."""
    _exec(plugin_type, "DEL", stdin, env)


def delegate_check(plugin_type: str, stdin: bytes, env: Mapping[str, str] | None = None) -> None:
    """Runs the delegate's CHECK."""
    _exec(plugin_type, "CHECK", stdin, env)


def delegate_gc(plugin_type: str, stdin: bytes, env: Mapping[str, str] | None = None) -> None:
    """Runs the delegate's GC."""
    _exec(plugin_type, "GC", stdin, env)


def delegate_status(plugin_type: str, stdin: bytes, env: Mapping[str, str] | None = None) -> None:
    """Runs the delegate's STATUS."""
    _exec(plugin_type, "STATUS", stdin, env)
