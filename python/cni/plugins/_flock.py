# SPDX-License-Identifier: Apache-2.0
"""An exclusive flock held for a block, waited for at most a bounded time: a hung holder
makes a plugin fail with code 11 (try again later), never hang with it."""

from __future__ import annotations

import posix

from cni.errors import TryAgainLater


def acquire(path: str, wait: float, *, create: bool = True) -> int:
    """The fd (O_CLOEXEC: a child keeps none) of `path`, flocked exclusively; `create`
    makes the file (0600) when it is not there."""
    import fcntl
    import time

    # A namespace bind mount is flocked read-only (O_RDONLY is 0); a lock file is made.
    flags = posix.O_CLOEXEC | posix.O_NOFOLLOW | (posix.O_RDWR | posix.O_CREAT if create else posix.O_RDONLY)
    fd = posix.open(path, flags, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() > deadline:
                posix.close(fd)
                raise TryAgainLater(f"another process has held {path} for {wait:.0f} s") from None
            time.sleep(0.005)
        else:
            return fd
