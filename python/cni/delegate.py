# SPDX-License-Identifier: Apache-2.0
"""Delegation from a plugin to another (usually IPAM), as the spec describes it.

The delegate gets the caller's environment with only CNI_COMMAND changed and the caller's
complete stdin; its stderr is the caller's. A failed delegated ADD is followed by the
delegate's DEL before the error is returned, so nothing it reserved leaks.

When the executable found in CNI_PATH is one `cni install` wrote for this very
installation (its manifest says so: :func:`cni.plugins.registry.installed_type`), the
delegate runs in this process instead: the same SDK entry point with the same environment
and stdin, minus a process start (about 20 ms each here). Anything else, an executable of
another installation included, is exec'd.
"""

from __future__ import annotations

from cni import _posix
from cni.invoke import Completed, find_in_path, plugin_error, run
from cni.netconf import split_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Delegates are other plugins on this node; they get a generous bound, not none.
DELEGATE_TIMEOUT = 120.0


def _run_in_process(plugin_type: str, env: dict[str, str], stdin: bytes) -> Completed:
    import io

    from cni.plugins import registry

    out = io.StringIO()
    status = registry.run(plugin_type, env=env, stdin=io.BytesIO(stdin), stdout=out)
    return Completed(status, out.getvalue().encode(), b"")


def _exec(plugin_type: str, command: str, stdin: bytes, env: Mapping[str, str] | None) -> bytes:
    base = _posix.environ() if env is None else dict(env)
    base["CNI_COMMAND"] = command
    path = find_in_path(plugin_type, split_path(base.get("CNI_PATH", "")))
    from cni.plugins.registry import installed_type

    ours = installed_type(path)
    if ours is not None:
        completed = _run_in_process(ours, base, stdin)
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
