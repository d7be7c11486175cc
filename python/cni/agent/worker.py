# SPDX-License-Identifier: Apache-2.0
"""One worker: waits for one connection, serves it, exits. Runs in a child of the agent.

The order is the point. Until the worker has taken the request's token nothing has run,
so every check comes first, and any failure is a refusal after which the shim execs the launcher itself: the
peer's credentials (root or the agent's own user), its privileges (a caller with fewer
capabilities, no_new_privs or a seccomp filter would gain what we have), the request's
shape, version and plugin, then the caller's network and mount namespaces (entered before
anything else: a mount namespace can only be entered by a single-threaded process), its
working directory. Then the worker takes the request's token (one byte in a pipe the shim
made: whoever reads it owns the invocation, so a shim that gave up waiting and execs the
launcher never runs alongside us), installs the caller's umask, environment, argv and stdio,
arms the watch on the connection (no thread: a SIGIO handler in Rust; a signal the shim
forwards is raised here; the shim hanging up, say SIGKILLed on a runtime's timeout, kills
this process at once, as the runtime meant),
and runs the plugin's `main` exactly as its launcher would run it.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import socket
import struct
import sys
import traceback
from typing import TextIO

from cni import __version__, skel
from cni import _native as native
from cni.errors import CNIError
from cni.plugins import registry

# The protocol's numbers, from cni_core::warm (the shim's side is Rust).
HEADER_LEN, FRAME_LEN, FDS = native.WARM_HEADER_LEN, native.WARM_FRAME_LEN, native.WARM_FDS
REFUSED, EXIT = native.WARM_REFUSED, native.WARM_EXIT
BAD_REQUEST, VERSION = native.REFUSE_BAD_REQUEST, native.REFUSE_VERSION
UNKNOWN_PLUGIN, CALLER = native.REFUSE_UNKNOWN_PLUGIN, native.REFUSE_CALLER
PRIVILEGES, NAMESPACES = native.REFUSE_PRIVILEGES, native.REFUSE_NAMESPACES
#: How long a connected shim may take to send its request.
REQUEST_TIMEOUT = 5.0

_FRAME = struct.Struct("<Ii")
_CRED = struct.Struct("3i")


class Refused(Exception):
    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def log(message: str) -> None:
    """One line on the agent's stderr (a worker's is the agent's until it takes the caller's)."""
    try:
        os.write(2, f"cni agent[{os.getpid()}]: {message}\n".encode(errors="backslashreplace"))
    except OSError:
        pass


def wait_and_serve(
    listener: socket.socket,
    alive_fd: int,
    busy_fd: int,
    verbose: bool = False,
    *,
    populate: bytes = b"",
    report_fd: int | None = None,
) -> int:
    """The worker's life: the exit status to leave with. Returns 0 without serving when the
    agent has gone away (its end of `alive_fd` closed) before a connection came.

    While idle, the worker takes the faults of the pages in `populate` (those earlier
    requests touched, `cni_core::pages`); with a `report_fd` it takes none in advance and,
    once its request is over, writes there the pages it did touch."""
    if populate:
        native.warm_pages_populate(populate)
    # EPOLLEXCLUSIVE: a connection wakes one idle worker, not the whole pool (which, on a
    # small machine, costs the request more than it takes to serve it).
    poller = select.epoll(2)
    poller.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
    poller.register(alive_fd, select.EPOLLIN)
    while True:
        ready = dict(poller.poll())
        if alive_fd in ready:
            return 0
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue  # another worker took it
        except OSError as err:
            log(f"accept failed: {err}")
            return 1
        break
    try:
        os.write(busy_fd, struct.pack("i", os.getpid()))  # busy now: the agent counts the pool
    except OSError:
        pass
    listener.close()
    for fd in (alive_fd, busy_fd):
        os.close(fd)
    code = serve(conn, verbose)
    if report_fd is not None:
        _report_pages(report_fd)
    return code


def _report_pages(fd: int) -> None:
    try:
        touched = memoryview(native.warm_pages_touched())
        while touched:
            touched = touched[os.write(fd, touched) :]
    except (OSError, CNIError) as err:
        log(f"cannot report the pages this request touched: {err}")


def rehearse() -> None:
    """Walks, once in the pool process before it forks a worker, the paths a request will
    walk, without their effects: their first-time costs (lazy state, bytecode specialised on
    first runs) are then paid for every worker at once. Each plugin answers VERSION
    and refuses an ADD whose netns does not exist, after parsing and checking its config;
    the environment is installed as a request's would be (the pool's own, which is then
    emptied: a worker's request then only adds the caller's). The stream objects a request installs
    as `sys.stdin`/`stdout`/`stderr` are made here too; they name fds 0-2, whatever those
    will refer to."""
    import io

    _OWN_STATUS.update(_status_fields(os.getpid()))
    _check_privileges(os.getpid())
    _install_environment([b"=".join(item) for item in os.environb.items()], [b"cni-agent"])
    _STREAMS[:] = _streams()
    body = native.warm_encode(__version__.encode(), b"bridge", b"/", 0o022, [b"bridge"], [b"A=B"])
    native.warm_header(body[:HEADER_LEN])
    native.warm_request(body[HEADER_LEN:])
    _FRAME.unpack(_FRAME.pack(EXIT, 0))
    env = {"CNI_CONTAINERID": "rehearsal", "CNI_NETNS": "/nonexistent/rehearsal", "CNI_IFNAME": "eth0", "CNI_PATH": ""}
    for entry in registry.PLUGINS:
        conf = f'{{"cniVersion": "1.0.0", "name": "rehearsal", "type": "{entry.type}"}}'.encode()
        for command in ("VERSION", "ADD"):
            out = io.StringIO()
            skel.run(
                entry.plugin(), env={**env, "CNI_COMMAND": command}, stdin=io.BytesIO(conf), stdout=out, stderr=out
            )
    _install_environment([], [b"cni-agent"])


def serve(conn: socket.socket, verbose: bool = False) -> int:
    conn.settimeout(REQUEST_TIMEOUT)
    fds: list[int] = []
    try:
        try:
            plugin, argv, env, umask, fds = _receive(conn)
            native.enter_namespaces(fds[3], fds[4])
            try:
                os.fchdir(fds[5])
            except OSError as err:
                raise Refused(NAMESPACES, f"cannot enter the caller's working directory: {err}") from None
        except Refused as err:
            log(f"refused: {err}")
            _send(conn, REFUSED, err.reason)
            return 0
        except CNIError as err:  # entering a namespace failed
            log(f"refused: {err}")
            _send(conn, REFUSED, NAMESPACES)
            return 0
        if os.read(fds[6], 1) != b"t":
            log("the shim gave up waiting; it runs the launcher itself")
            return 0
    except OSError as err:
        log(f"connection lost: {err}")
        return 0
    finally:
        for fd in fds[3:]:
            try:
                os.close(fd)
            except OSError:
                pass
    os.umask(umask)
    command = _install_environment(env, argv)
    if verbose:
        log(f"served {plugin.type} {command} for pid {_CRED.unpack(_peer(conn))[0]}")
    if command == "DEL":
        # What the plugin's DEL does first (skel), done before the first forwarded signal
        # can arrive: a SIGTERM during DEL never cuts it short.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
    _install_stdio(fds[:3])
    conn.settimeout(None)
    native.warm_watch(conn.fileno())
    code = _run(plugin)
    native.warm_finished()
    _release_stdio()
    try:
        _send(conn, EXIT, code)
    except OSError:
        pass
    return code


def _release_stdio() -> None:
    """Lets go of the caller's stdio before the status goes out: a runtime reads the
    plugin's stdout until EOF, which must not wait for this process's exit (the teardown of
    its address space)."""
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _peer(conn: socket.socket) -> bytes:
    return conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)


Request = tuple[registry.Entry, list[bytes], list[bytes], int]


def _receive(conn: socket.socket) -> tuple[registry.Entry, list[bytes], list[bytes], int, list[int]]:
    """The checked request (plugin, argv, env, umask) and its descriptors, or Refused."""
    pid, uid, _gid = _CRED.unpack(_peer(conn))
    data, fds, flags, _ = socket.recv_fds(conn, HEADER_LEN, FDS + 1, socket.MSG_CMSG_CLOEXEC)
    if not data and not fds:
        raise ConnectionResetError(f"pid {pid} hung up before sending a request")
    try:
        entry, argv, env, umask = _check(conn, pid, uid, data, len(fds), flags)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return entry, argv, env, umask, fds


def _check(conn: socket.socket, pid: int, uid: int, data: bytes, nfds: int, flags: int) -> Request:
    if uid not in (0, os.geteuid()):
        raise Refused(CALLER, f"pid {pid} runs as uid {uid}: only root and uid {os.geteuid()} are served")
    _check_privileges(pid)
    if nfds != FDS or flags & socket.MSG_CTRUNC:
        raise Refused(BAD_REQUEST, f"pid {pid} sent {nfds} descriptors, not {FDS}")
    data += _read_exactly(conn, HEADER_LEN - len(data))
    try:
        length = native.warm_header(data)
    except CNIError as err:
        raise Refused(_header_reason(data), f"pid {pid}: {err}") from None
    try:
        version, name, _cwd, umask, argv, env = native.warm_request(_read_exactly(conn, length))
    except CNIError as err:
        raise Refused(BAD_REQUEST, f"pid {pid}: {err}") from None
    if version.decode(errors="replace") != __version__:
        raise Refused(VERSION, f"pid {pid} is cni {version!r}, this agent is {__version__}")
    entry = registry.find(name.decode(errors="replace"))
    if entry is None:
        raise Refused(UNKNOWN_PLUGIN, f"pid {pid} asked for {name!r}, not a plugin of this package")
    return entry, argv, env, umask


def _header_reason(header: bytes) -> int:
    """A header of another protocol version is a version refusal, anything else garbage."""
    other_protocol = int.from_bytes(header[4:6], "little") != native.WARM_PROTOCOL
    return VERSION if header[:4] == b"CNIW" and other_protocol else BAD_REQUEST


def _read_exactly(conn: socket.socket, length: int) -> bytes:
    chunks = []
    while length:
        chunk = conn.recv(min(length, 1 << 16))
        if not chunk:
            raise Refused(BAD_REQUEST, "the request is truncated")
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _status_fields(pid: int) -> dict[str, str]:
    """/proc/PID/status as fields, read raw (the text I/O stack touches far more memory,
    and every page a worker touches is a copy-on-write fault)."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # Small reads: a 64 KiB buffer is fresh heap (page faults) in a new worker.
        data = b"".join(iter(lambda: os.read(fd, 4096), b""))
    finally:
        os.close(fd)
    fields = {}
    for line in data.decode("ascii", "replace").split("\n"):
        key, sep, value = line.partition(":\t")
        if sep:
            fields[key] = value
    return fields


#: The worker's own capabilities and restrictions, read once while idle.
_OWN_STATUS: dict[str, str] = {}


def _check_privileges(pid: int) -> None:
    try:
        theirs = _status_fields(pid)
    except OSError as err:
        raise Refused(CALLER, f"cannot read pid {pid}'s status: {err}") from None
    mine = _OWN_STATUS or _status_fields(os.getpid())
    caps_theirs, caps_mine = int(theirs.get("CapEff", "0"), 16), int(mine.get("CapEff", "0"), 16)
    if caps_mine & ~caps_theirs:
        raise Refused(PRIVILEGES, f"pid {pid} lacks capabilities {caps_mine & ~caps_theirs:#x} that a worker has")
    for field in ("NoNewPrivs", "Seccomp"):
        if theirs.get(field, "0").strip() != "0" and mine.get(field, "0").strip() == "0":
            raise Refused(PRIVILEGES, f"pid {pid} runs with {field} {theirs[field].strip()}")


def _send(conn: socket.socket, kind: int, value: int) -> None:
    conn.sendall(_FRAME.pack(kind, value))


def _install_environment(env: list[bytes], argv: list[bytes]) -> str:
    """Makes the caller's environment and argv this process's; returns CNI_COMMAND."""
    import posix

    pairs = dict(item.partition(b"=")[::2] for item in env if b"=" in item)
    # unsetenv and putenv for each, so exec'd children get the caller's environment.
    # Not os.environ.clear(): a mapping's clear() pops one item at a time from a fresh
    # iterator, quadratic in the environment (0.1 ms for 40 variables).
    for key in list(os.environb):
        del os.environb[key]
    os.environb.update(pairs)
    posix.environ.clear()  # what the plugin path reads (cni._posix.environ)
    posix.environ.update(pairs)
    sys.argv = [os.fsdecode(a) for a in argv] or [""]
    return pairs.get(b"CNI_COMMAND", b"").decode(errors="replace")


#: sys.stdin, sys.stdout and sys.stderr for the request, made while idle (`rehearse`).
_STREAMS: list[TextIO] = []


def _streams() -> list[TextIO]:
    """Text streams on fds 0-2 as a launcher's interpreter makes them, except that stdout
    is block-buffered even where the caller's is a tty (the output is the same at exit).
    They only name the fd numbers, so they serve whatever the caller's stdio is."""
    import io

    def text(fd: int, mode: str, errors: str, line_buffering: bool) -> TextIO:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(buffered, encoding="utf-8", errors=errors, line_buffering=line_buffering)

    return [
        text(0, "r", "surrogateescape", False),
        text(1, "w", "surrogateescape", False),
        text(2, "w", "backslashreplace", True),
    ]


def _install_stdio(fds: list[int]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)  # inheritable, as a launcher's stdio is
        os.close(fd)
    # Not the agent's stream objects: those were made for its own stdio (a tty, say).
    sys.stdin, sys.stdout, sys.stderr = _STREAMS


def _run(entry: registry.Entry) -> int:
    """The launcher's `sys.exit(run(PLUGIN))`, with what the interpreter would do at exit."""
    interrupted = False
    try:
        code = skel.run(entry.plugin())
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except KeyboardInterrupt:
        # The interpreter prints it and then dies of SIGINT, so its parent sees the signal.
        traceback.print_exc()
        code, interrupted = 1, True
    except BaseException:  # noqa: BLE001 - as the interpreter would: traceback, status 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # the shim sees its forwarded SIGINT's end
    return code


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
