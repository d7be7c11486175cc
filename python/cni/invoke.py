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
from cni.errors import CNIError, InternalError, InvalidNetworkConfig, IOFailure, TryAgainLater
from cni.netconf import plugin_type_problem

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

    Safe to call from many threads at once: every pipe end is closed exactly once, by
    whoever owns it at that moment (a second close could hit another thread's new fd of
    the same number), and the child is killed and reaped exactly once (a second kill could
    hit another thread's child that was given the recycled pid).
    """
    pipes = _Pipes(capture_stderr)
    actions: list[tuple[int, ...]] = [
        (posix.POSIX_SPAWN_DUP2, pipes.in_r, 0),
        (posix.POSIX_SPAWN_DUP2, pipes.out_w, 1),
    ]
    if capture_stderr:
        actions.append((posix.POSIX_SPAWN_DUP2, pipes.err_w, 2))
    try:
        pid = _spawn(path, [path, *args], env, actions)
    except OSError as err:
        pipes.close_all()
        raise InternalError(f"failed to exec plugin {path}: {err.strerror}") from None
    except BaseException:
        pipes.close_all()
        raise
    # The child holds its own copies now; ours of its ends would hide its EOF.
    for fd in (pipes.in_r, pipes.out_w, pipes.err_w):
        pipes.close(fd)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        stdout, stderr = _pump(pipes, stdin, deadline, max_output, path)
    except BaseException:
        _kill_and_reap(pid)
        raise
    finally:
        pipes.close_all()
    status = _reap(pid)
    return Completed(posix.waitstatus_to_exitcode(status), stdout, stderr)


class _Pipes:
    """The three pipes of one exec, and which of their ends are still open (and ours)."""

    __slots__ = ("err_r", "err_w", "in_r", "in_w", "open", "out_r", "out_w")

    def __init__(self, capture_stderr: bool) -> None:
        # posix.pipe() makes both ends O_CLOEXEC, so a child another thread spawns at the
        # same moment cannot inherit them; DUP2 in the file actions clears it for 0-2 only.
        self.open: set[int] = set()
        self.in_r, self.in_w = self._pipe()
        self.out_r, self.out_w = self._pipe()
        self.err_r, self.err_w = self._pipe() if capture_stderr else (-1, -1)

    def _pipe(self) -> tuple[int, int]:
        try:
            r, w = posix.pipe()
        except BaseException:
            self.close_all()
            raise
        self.open.update((r, w))
        return r, w

    def close(self, fd: int) -> None:
        if fd in self.open:
            self.open.discard(fd)
            posix.close(fd)

    def close_all(self) -> None:
        for fd in list(self.open):
            self.close(fd)


def _reap(pid: int) -> int:
    while True:
        try:
            return posix.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _kill_and_reap(pid: int) -> None:
    """Kills a child that has not been reaped yet (so its pid cannot have been reused)."""
    try:
        posix.kill(pid, _SIGKILL)
    except ProcessLookupError:
        pass
    try:
        _reap(pid)
    except ChildProcessError:
        pass


def _pump(pipes: _Pipes, data: bytes, deadline: float | None, max_output: int, path: str) -> tuple[bytes, bytes]:
    """Feeds `data` to the child's stdin and reads its stdout and stderr until both close.

    Raises (without killing: the caller kills and reaps once) on the deadline or when an
    output exceeds `max_output`. `poll`, not `select`: a runtime with more than 1,024 open
    fds must still be able to run plugins.
    """
    import select  # only runtimes and exec'd delegates pump pipes; keep it off the plugin path

    poller = select.poll()
    readers: dict[int, list[bytes]] = {fd: [] for fd in (pipes.out_r, pipes.err_r) if fd >= 0}
    sizes = dict.fromkeys(readers, 0)
    buffers = dict(readers)
    for fd in readers:
        poller.register(fd, select.POLLIN)
    view = memoryview(data)
    writing = bool(data)
    if writing:
        posix.set_blocking(pipes.in_w, False)
        poller.register(pipes.in_w, select.POLLOUT)
    else:
        pipes.close(pipes.in_w)
    while readers or writing:
        wait_ms = None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PluginTimedOut(f"plugin {path} timed out", "it was killed; the operation may be retried")
            wait_ms = int(left * 1000) + 1
        for fd, events in poller.poll(wait_ms):
            if fd == pipes.in_w:
                try:
                    written = posix.write(fd, view[:_CHUNK])
                except BrokenPipeError:
                    written = len(view)
                except BlockingIOError:
                    written = 0
                view = view[written:]
                if not view or events & (select.POLLERR | select.POLLHUP):
                    poller.unregister(fd)
                    pipes.close(fd)
                    writing = False
                continue
            chunk = posix.read(fd, _CHUNK)
            if not chunk:
                poller.unregister(fd)
                del readers[fd]
                continue
            sizes[fd] += len(chunk)
            if sizes[fd] > max_output:
                raise IOFailure(f"plugin {path} wrote more than {max_output} bytes", "it was killed")
            buffers[fd].append(chunk)
    return b"".join(buffers.get(pipes.out_r, [])), b"".join(buffers.get(pipes.err_r, []))


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
