# SPDX-License-Identifier: Apache-2.0
"""The agent's listening socket.

Always a path, never the abstract namespace (anyone in the network namespace could bind an
abstract name first: CVE-2022-42919). The socket is 0600 in a directory of the agent's user
that nobody else can enter (0700; created so when missing, refused when it is looser). One
agent per path: a lock beside the socket is held for the agent's life, so a second agent
fails at once and a stale socket of a killed agent is simply replaced. Under systemd socket
activation (`LISTEN_FDS`, `LISTEN_PID`), systemd's socket is used as it is.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat

#: systemd passes activated sockets from this descriptor on.
SD_LISTEN_FDS_START = 3


class ListenerError(Exception):
    """The socket cannot be served (a message for the operator)."""


class Listener:
    """A listening socket, the lock that makes it ours, and whether we bound the path."""

    def __init__(self, sock: socket.socket, path: str, lock_fd: int | None) -> None:
        self.sock = sock
        self.path = path
        self.lock_fd = lock_fd

    def close(self) -> None:
        """Stops listening; a path we bound is removed (under our lock, so it is ours)."""
        if self.lock_fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.lock_fd)
            self.lock_fd = None
        self.sock.close()


def activated() -> socket.socket | None:
    """systemd's socket, when this process was socket-activated; the variables are cleared
    so that workers and plugins do not see them."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if count < 1:
        return None
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ListenerError("the socket systemd passed is not a unix stream socket")
    os.set_inheritable(sock.fileno(), False)
    return sock


def _private_directory(directory: str) -> None:
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(directory, 0o755, exist_ok=True)
        os.chmod(directory, 0o700)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise ListenerError(f"{directory} is not a directory")
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise ListenerError(
            f"{directory} must belong to uid {os.geteuid()} and be closed to others (0700): "
            f"it is uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"
        )


def bind(path: str, *, inherited_lock: int | None = None, private_dir: bool = True) -> Listener:
    """Listens on `path`, replacing a stale socket; fails if another process serves it.
    Without `private_dir` (a path other tools share, as the dhcp daemon's `/run/cni`), the
    directory is made 0755 when missing and the socket's own mode (0600) guards it."""
    path = os.path.abspath(path)
    if private_dir:
        _private_directory(os.path.dirname(path))
    else:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if inherited_lock is not None:
        lock_fd = inherited_lock
    else:
        lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise ListenerError(f"another process serves {path}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        try:
            os.unlink(path)  # a socket left by an agent that was killed: ours now, by the lock
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(128)
    except OSError as err:
        sock.close()
        os.close(lock_fd)
        raise ListenerError(f"cannot listen on {path}: {err.strerror}") from None
    return Listener(sock, path, lock_fd)
