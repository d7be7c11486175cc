# SPDX-License-Identifier: Apache-2.0
"""Finding and executing plugins: the half of the protocol shared by runtimes and plugins.

Both the runtime library and plugins that delegate (to IPAM) use this module, so it stays
lean: `posix_spawn` and `select` instead of `subprocess` (about 28 ms of imports), no
`contextlib` (3 ms), and `select` only when a child is actually run. Every exec is bounded
in time and in how much output it may produce.
"""

from __future__ import annotations

import posix
import time

from cni import _posix
from cni.conf import plugin_type_problem
from cni.errors import CNIError, InternalError, InvalidNetworkConfig, IOFailure, TryAgainLater

#: Largest stdout or stderr accepted from a plugin before it is killed.
MAX_OUTPUT = 16 * 1024 * 1024
_CHUNK = 65536
_TXTBSY_RETRIES = 5
# The `signal` module would import `enum` on every plugin's start-up path; one number will do.
_SIGKILL = 9


class PluginNotFound(InvalidNetworkConfig):
    """A plugin `type` names no executable in CNI_PATH (code 7)."""


class PluginTimedOut(TryAgainLater):
    """A plugin ran past its deadline and was killed (code 11)."""


def find_in_path(plugin_type: str, paths: list[str]) -> str:
    """The executable for `plugin_type` in the first directory of `paths` that holds one.

    A type that could leave those directories (`..`, a separator, NUL) is refused before
    any file is looked at (CVE-2021-20206).
    """
    problem = plugin_type_problem(plugin_type)
    if problem:
        raise InvalidNetworkConfig(f"invalid plugin type {plugin_type!r}: {problem}")
    for directory in paths:
        if not directory.startswith("/"):
            continue
        candidate = _posix.join(directory, plugin_type)
        try:
            st = posix.stat(candidate)
        except OSError:
            continue
        if _posix.is_regular(st.st_mode) and posix.access(candidate, posix.X_OK):
            return candidate
    raise PluginNotFound(
        f"failed to find plugin {plugin_type!r} in path {paths}",
        "CNI_PATH lists the directories searched; only absolute ones count",
    )


class Completed:
    """What an exec produced: exit status, stdout and (when captured) stderr."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _spawn(path: str, argv: list[str], env: dict[str, str], actions: list[tuple[int, ...]]) -> int:
    for attempt in range(_TXTBSY_RETRIES + 1):
        try:
            return posix.posix_spawn(path, argv, env, file_actions=actions)
        except OSError as err:
            # A plugin binary being replaced while we exec it: retry like libcni does.
            if err.errno != 26 or attempt == _TXTBSY_RETRIES:  # ETXTBSY
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def run(
    path: str,
    env: dict[str, str],
    stdin: bytes,
    *,
    timeout: float | None = None,
    capture_stderr: bool = True,
    max_output: int = MAX_OUTPUT,
    args: tuple[str, ...] = (),
) -> Completed:
    """Executes `path` (with `args`) and `env`, feeds it `stdin` and collects its output.

    The child is killed (SIGKILL) and reaped when it runs past `timeout` seconds (code 11)
    or writes more than `max_output` bytes to either stream (code 5). With
    `capture_stderr=False` the child's stderr is ours, as delegated plugins' is.
    """
    in_r, in_w = posix.pipe()
    out_r, out_w = posix.pipe()
    err_r, err_w = posix.pipe() if capture_stderr else (-1, -1)
    actions: list[tuple[int, ...]] = [
        (posix.POSIX_SPAWN_DUP2, in_r, 0),
        (posix.POSIX_SPAWN_DUP2, out_w, 1),
    ]
    if capture_stderr:
        actions.append((posix.POSIX_SPAWN_DUP2, err_w, 2))
    try:
        pid = _spawn(path, [path, *args], env, actions)
    except OSError as err:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            if fd >= 0:
                posix.close(fd)
        raise InternalError(f"failed to exec plugin {path}: {err.strerror}") from None
    for fd in (in_r, out_w, err_w):
        if fd >= 0:
            posix.close(fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        stdout, stderr = _pump(pid, in_w, stdin, out_r, err_r, deadline, max_output, path)
    except BaseException:
        _kill(pid)
        raise
    finally:
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                try:
                    posix.close(fd)
                except OSError:
                    pass
    _, status = posix.waitpid(pid, 0)
    return Completed(posix.waitstatus_to_exitcode(status), stdout, stderr)


def _kill(pid: int) -> None:
    try:
        posix.kill(pid, _SIGKILL)
        posix.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _pump(
    pid: int,
    in_w: int,
    data: bytes,
    out_r: int,
    err_r: int,
    deadline: float | None,
    max_output: int,
    path: str,
) -> tuple[bytes, bytes]:
    import select  # only runtimes and exec'd delegates pump pipes; keep it off the plugin path

    posix.set_blocking(in_w, False)
    buffers: dict[int, list[bytes]] = {out_r: [], err_r: []}
    sizes = {out_r: 0, err_r: 0}
    readers = [fd for fd in (out_r, err_r) if fd >= 0]
    writers = [in_w]
    view = memoryview(data)
    if not data:
        posix.close(in_w)
        writers = []
    while readers or writers:
        wait = None
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                _kill(pid)
                raise PluginTimedOut(f"plugin {path} timed out", "it was killed; the operation may be retried")
        ready_r, ready_w, _ = select.select(readers, writers, [], wait)
        if ready_w:
            try:
                written = posix.write(in_w, view[:_CHUNK])
            except BrokenPipeError:
                written = len(view)
            view = view[written:]
            if not view:
                posix.close(in_w)
                writers = []
        for fd in ready_r:
            chunk = posix.read(fd, _CHUNK)
            if not chunk:
                readers.remove(fd)
                continue
            sizes[fd] += len(chunk)
            if sizes[fd] > max_output:
                _kill(pid)
                raise IOFailure(f"plugin {path} wrote more than {max_output} bytes", "it was killed")
            buffers[fd].append(chunk)
    return b"".join(buffers[out_r]), b"".join(buffers[err_r])


def plugin_error(path: str, completed: Completed) -> CNIError:
    """The error a failed plugin reported: its JSON error, or one built from stderr."""
    from cni._native import loads
    from cni.errors import error_from_dict

    if completed.stdout.strip():
        try:
            obj = loads(completed.stdout)
        except CNIError:
            obj = None
        if isinstance(obj, dict) and "code" in obj:
            return error_from_dict(obj)
    stderr = completed.stderr.decode(errors="replace").strip()
    detail = f"exit status {completed.returncode}"
    return InternalError(
        f"plugin {_posix.basename(path)} failed ({detail})" + (f": {stderr}" if stderr else ""),
        completed.stdout.decode(errors="replace").strip()[:4096],
    )
