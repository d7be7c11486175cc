# SPDX-License-Identifier: Apache-2.0
"""The agent's pool process: rehearses the plugin path once, then keeps the pool of idle
workers full by forking them from itself, reaps them, and stops when told to or when the
supervisor (:mod:`cni.agent.supervisor`) is gone.

The rehearsal (:func:`cni.agent.worker.rehearse`) walks the paths a request walks, without
their effects; every worker forked afterwards starts from its result (modules' lazy state,
specialised bytecode), so neither the worker nor its request pays those first-time costs.
Nothing of an operation is in it: it runs before any request, and each worker still serves
exactly one. The process is single-threaded when it forks (checked after the rehearsal).

A worker still shares every page with the pool and pays a copy-on-write fault for each one
it writes (3 µs a page here; ~300 for a VERSION), and a fault for each page of code or
read-only data it reads (fork copies no page tables for file mappings). So the pool learns
which pages requests touch: every :data:`LEARN_EVERY`-th worker, the first included, takes
no faults in advance and, once its request is over, reports the pages it touched
(`cni_core::pages`); each idle worker forked afterwards takes the faults of the union of
the last :data:`LEARNED_SETS` reports in advance (`MADV_POPULATE_WRITE`, `MADV_POPULATE_READ`)
while it waits, off the request's path.

A worker tells the pool over a pipe the moment it accepts a connection. While other idle
workers remain, the replacement is forked once that request is over, so the fork (page
tables copied, a CPU busy) is off the path of a runtime's sequential operations; when the
last idle worker is taken, at once, so a burst or a slow ADD never leaves the pool empty.
Idle workers watch a second pipe whose write end only the pool holds; when the pool ends,
that end closes and the idle workers leave, while busy ones finish their request. When the
installed package changes under a running agent (an upgrade, a rebuild), the pool ends
after the next request with :data:`REEXEC_STATUS` and the supervisor re-executes itself on
the same socket, so a plugin never runs against another version of itself; the shim's
version check covers the moment between.
"""

from __future__ import annotations

import collections
import gc
import os
import select
import signal
import socket
import struct
import sys
import time

from cni import _native as native
from cni.agent import worker

#: The pool's exit status when the installed package changed: the supervisor re-executes.
REEXEC_STATUS = 75
#: Every LEARN_EVERY-th worker, the first included, reports the pages its request touched;
#: idle workers take the faults of the pages the last LEARNED_SETS reports name.
LEARN_EVERY = 16
LEARNED_SETS = 4


#: The packages whose every module a plugin operation may import, at function level too.
PLUGIN_PACKAGES = ("cni.plugins", "cni.ipam")
#: What plugin code imports inside functions, from outside those packages: the standard
#: library's lazy imports and the dhcp plugin's client side. `ssl` (etcd over TLS) is here
#: too: 20 ms for each operation that would import it, against 6 MiB shared by the pool.
LAZY_IMPORTS = (
    "fcntl",
    "io",
    "ipaddress",
    "posix",
    "re",
    "select",
    "socket",
    "ssl",
    "time",
    "traceback",
    "zlib",
    "_sha256",
    "_signal",
    "cni.conversion",
    "cni.dhcp",
    "cni.dhcp.packet",
    "cni.netconf",
    "cni.skel",
)


def warm_imports() -> None:
    """Everything a plugin operation imports, imported once here for every worker: a module
    a worker imports itself costs its request the import (and, without bytecode, the
    compile: 4 ms for a small one)."""
    import pkgutil

    for name in LAZY_IMPORTS:
        __import__(name)
    for package in PLUGIN_PACKAGES:
        __import__(package)
        for module in pkgutil.iter_modules(sys.modules[package].__path__, package + "."):
            __import__(module.name)


def package_identity() -> list[tuple[int, int, int, int]]:
    """What changes when the installed package does: the files a worker would load."""
    import cni
    from cni import _native

    paths = [cni.__file__, _native.__file__]
    out = []
    for path in paths:
        try:
            st = os.stat(path or "")
        except OSError:
            out.append((0, 0, 0, 0))
        else:
            out.append((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))
    return out


def run(sock: socket.socket, link_fd: int, identity: list[tuple[int, int, int, int]], size: int, verbose: bool) -> int:
    """The pool process's life, in a child of the supervisor: the exit status to leave with."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    worker.rehearse()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        # A fork copies only the forking thread: a lock another one held stays locked.
        worker.log(f"the rehearsal left {threads} threads: not forking workers from here")
        return 1
    gc.freeze()  # the rehearsal's objects too: shared by every worker, like the imports
    return Pool(sock, link_fd, identity, size, verbose).run()


class Pool:
    def __init__(
        self, sock: socket.socket, link_fd: int, identity: list[tuple[int, int, int, int]], size: int, verbose: bool
    ) -> None:
        self.sock = sock
        self.link_fd = link_fd
        self.identity = identity
        self.size = size
        self.verbose = verbose
        self.idle: set[int] = set()
        self.busy: set[int] = set()
        self.alive_r, self.alive_w = os.pipe2(os.O_CLOEXEC)
        self.busy_r, self.busy_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.busy_r, False)
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        # The pages requests touched, reported by one worker at a time (the learner).
        self.learn_r, self.learn_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.learn_r, False)
        self.learner: int | None = None
        self.report = bytearray()
        self.learned: collections.deque[bytes] = collections.deque(maxlen=LEARNED_SETS)
        self.pages = b""
        self.forked = 0
        self.stopping = False
        self.status = 0
        # Idle workers that die without serving (a broken installation, say) are replaced
        # after a growing pause, not in a fork loop.
        self.failures = 0
        self.refill_at = 0.0
        signal.set_wakeup_fd(self.wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, note_signal)

    def run(self) -> int:
        poller = select.poll()
        poller.register(self.busy_r, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        poller.register(self.link_fd, select.POLLIN)
        poller.register(self.learn_r, select.POLLIN)
        self._fill(self.size)
        while not self.stopping:
            pause = self.refill_at - time.monotonic()
            for fd, _ in poller.poll(max(0, int(pause * 1000) + 1) if pause > 0 else None):
                if fd == self.busy_r:
                    self._note_busy()
                elif fd == self.wake_r:
                    self._on_signals()
                elif fd == self.learn_r:
                    self._read_report()
                else:
                    self.stopping = True  # the supervisor is gone
            if self.stopping:
                break
            if package_identity() != self.identity:
                self.stopping, self.status = True, REEXEC_STATUS
                break
            if time.monotonic() >= self.refill_at:
                # Back to full once requests are over; meanwhile never empty.
                self._fill(self.size if len(self.idle) + len(self.busy) < self.size else 1)
        self._reap()
        worker.log(f"stopping; {len(self.busy)} request(s) still running finish on their own")
        os.close(self.alive_w)
        return self.status

    def _fill(self, wanted: int) -> None:
        while len(self.idle) < wanted:
            learns = self.learner is None and self.forked % LEARN_EVERY == 0
            pid = self._fork(learns)
            self.forked += 1
            if learns:
                self.learner = pid
            self.idle.add(pid)

    def _fork(self, learns: bool) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.set_wakeup_fd(-1)
            for fd in (self.alive_w, self.busy_r, self.wake_r, self.wake_w, self.link_fd, self.learn_r):
                os.close(fd)
            if not learns:
                os.close(self.learn_w)
            code = worker.wait_and_serve(
                self.sock,
                self.alive_r,
                self.busy_w,
                self.verbose,
                populate=b"" if learns else self.pages,
                report_fd=self.learn_w if learns else None,
            )
        except BaseException as err:  # noqa: BLE001 - a worker never returns into the pool's loop
            worker.log(f"worker failed: {type(err).__name__}: {err}")
        os._exit(code)

    def _note_busy(self) -> None:
        try:
            data = os.read(self.busy_r, 4096)
        except BlockingIOError:
            return
        for (pid,) in struct.iter_unpack("i", data[: len(data) - len(data) % 4]):
            self.idle.discard(pid)
            self.busy.add(pid)
            self.failures = 0

    def _on_signals(self) -> None:
        try:
            signums = os.read(self.wake_r, 4096)
        except BlockingIOError:
            signums = b""
        if {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} & set(signums):
            self.stopping = True
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.idle:
                # It may have taken a request after the loop's poll: its note precedes its end.
                self._note_busy()
            if pid in self.idle and not self.stopping:
                worker.log(f"idle worker {pid} ended ({describe(status)})")
                self.failures += 1
                self.refill_at = time.monotonic() + refill_pause(self.failures)
            self.idle.discard(pid)
            self.busy.discard(pid)
            if pid == self.learner:
                self._learned()

    def _read_report(self) -> None:
        try:
            while chunk := os.read(self.learn_r, 1 << 16):
                self.report += chunk
        except BlockingIOError:
            pass

    def _learned(self) -> None:
        """The learner has ended: what it wrote to the pipe is all there is."""
        self._read_report()
        self.learner = None
        if self.report and len(self.report) % 16 == 0:
            self.learned.append(bytes(self.report))
            self.pages = native.warm_pages_union(list(self.learned))
            if self.verbose:
                written, read = (size // 1024 for size in native.warm_pages_sizes(self.pages))
                worker.log(f"idle workers now write {written} KiB and read {read} KiB in advance, as requests did")
        self.report = bytearray()


def refill_pause(failures: int) -> float:
    """Seconds before replacing idle workers after `failures` died in a row: doubling from
    20 ms to 2 s (the exponent capped: a float of 2**1100 overflows, which once stopped an
    agent whose workers kept dying)."""
    return min(0.01 * 2.0 ** min(failures, 8), 2.0)


def note_signal(signum: int, frame: object) -> None:
    """Signals are handled from the wakeup pipe, in the loop."""


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"
