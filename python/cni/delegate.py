# SPDX-License-Identifier: Apache-2.0
"""Delegation from a plugin to another (usually IPAM), as the spec describes it.

The delegate gets the caller's environment with only CNI_COMMAND changed and the caller's
complete stdin; its stderr is the caller's. A failed delegated ADD is followed by the
delegate's DEL before the error is returned, so nothing it reserved leaks.
"""

from __future__ import annotations

import os

from cni.invoke import find_in_path, plugin_error, run, split_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Delegates are other plugins on this node; they get a generous bound, not none.
DELEGATE_TIMEOUT = 120.0


def _exec(plugin_type: str, command: str, stdin: bytes, env: Mapping[str, str] | None) -> bytes:
    base = dict(os.environ if env is None else env)
    base["CNI_COMMAND"] = command
    path = find_in_path(plugin_type, split_path(base.get("CNI_PATH", "")))
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
