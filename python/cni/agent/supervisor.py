# SPDX-License-Identifier: Apache-2.0
"""The agent's first process: holds the socket (and the lock that makes it ours), starts the
pool process and starts it again when it dies, re-executes itself when the installed package
changes, and stops on SIGTERM, SIGINT or SIGHUP. It never runs plugin code.

Why two processes: a worker forked from a process that has never run the plugin path pays,
during its request or a rehearsal of its own, every first-time cost of that path and a
copy-on-write fault for each page it touches; measured, a per-worker rehearsal was the
largest part of the CPU a request cost the agent (3.4 of about 6 ms, on a 2-CPU machine
where that background work lands on the next request). The pool process
(:mod:`cni.agent.pool`) rehearses once and forks every worker from there, so the supervisor
keeps the promise that the process the operator started never runs plugin code, and a worker
starts where a rehearsed one did, for the price of a fork.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import sys
import time

from cni.agent import pool, worker
from cni.agent.listener import SD_LISTEN_FDS_START, Listener

#: Set when re-executing: the lock descriptor to keep (the socket is systemd's fd 3 then).
REEXEC_LOCK = "CNI_AGENT_LOCK_FD"
REEXEC_PATH = "CNI_AGENT_SOCKET_PATH"
#: A pool process that lived this long before it died is not one of a series of failures.
STEADY_SECONDS = 5.0
#: How long a stopping pool may take before it is killed.
STOP_SECONDS = 5.0


class Supervisor:
    def __init__(self, listener: Listener, size: int, verbose: bool = False) -> None:
        self.listener = listener
        self.size = size
        self.verbose = verbose
        self.identity = pool.package_identity()
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.pool_pid: int | None = None
        self.pool_started = 0.0
        # The pool's sign of our life: it holds the read end, we the only write end.
        self.link_w: int | None = None
        self.stopping = False
        self.failures = 0
        self.restart_at = 0.0
        listener.sock.setblocking(False)
        signal.set_wakeup_fd(self.wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, pool.note_signal)

    def run(self) -> int:
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        # What exists now lives as long as the agent: out of the collector's sight, so that
        # no collection in the pool or a worker writes to (and so copies) the pages it shares.
        gc.freeze()
        while not self.stopping:
            if self.pool_pid is None and time.monotonic() >= self.restart_at:
                self._start_pool()
            pause = self.restart_at - time.monotonic() if self.pool_pid is None else -1.0
            if poller.poll(int(pause * 1000) + 1 if pause > 0 else None):
                self._on_signals()
        return self._stop()

    def _start_pool(self) -> None:
        link_r, link_w = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for fd in (self.wake_r, self.wake_w, link_w):
                    os.close(fd)
                if self.listener.lock_fd is not None:
                    os.close(self.listener.lock_fd)
                code = pool.run(self.listener.sock, link_r, self.identity, self.size, self.verbose)
            except BaseException as err:  # noqa: BLE001 - never back into the supervisor's loop
                worker.log(f"pool failed: {type(err).__name__}: {err}")
            os._exit(code)
        os.close(link_r)
        self.pool_pid, self.link_w, self.pool_started = pid, link_w, time.monotonic()

    def _on_signals(self) -> None:
        try:
            signums = os.read(self.wake_r, 4096)
        except BlockingIOError:
            signums = b""
        if {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} & set(signums):
            self.stopping = True
        self._reap()

    def _reap(self) -> None:
        while self.pool_pid is not None:
            try:
                pid, status = os.waitpid(self.pool_pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pool_pid, 0
            if pid == 0:
                return
            self._pool_ended(status)

    def _pool_ended(self, status: int) -> None:
        lived = time.monotonic() - self.pool_started
        self.pool_pid = None
        if self.link_w is not None:
            os.close(self.link_w)
            self.link_w = None
        if self.stopping:
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == pool.REEXEC_STATUS:
            self._reexec()
        worker.log(f"the pool process ended ({pool.describe(status)}); starting another")
        self.failures = 1 if lived >= STEADY_SECONDS else self.failures + 1
        self.restart_at = time.monotonic() + pool.refill_pause(self.failures)

    def _stop(self) -> int:
        """The pool stops at once (its idle workers with it, busy ones finish on their
        own); then the socket goes."""
        if self.pool_pid is not None:
            os.kill(self.pool_pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_SECONDS
            while os.waitpid(self.pool_pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > deadline:
                    os.kill(self.pool_pid, signal.SIGKILL)  # its idle workers leave with it
                    os.waitpid(self.pool_pid, 0)
                    break
                time.sleep(0.005)
        self.listener.close()
        return 0

    def _reexec(self) -> None:
        """Starts over as the package now installed, on the same socket and lock."""
        worker.log("the installed package changed: re-executing")
        sock_fd = self.listener.sock.fileno()
        if self.listener.lock_fd == SD_LISTEN_FDS_START:
            self.listener.lock_fd = os.dup(SD_LISTEN_FDS_START)  # out of the socket's way
        if sock_fd != SD_LISTEN_FDS_START:
            os.dup2(sock_fd, SD_LISTEN_FDS_START)  # inheritable
        else:
            os.set_inheritable(sock_fd, True)
        env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
        env[REEXEC_PATH] = self.listener.path
        if self.listener.lock_fd is not None:
            os.set_inheritable(self.listener.lock_fd, True)
            env[REEXEC_LOCK] = str(self.listener.lock_fd)
        signal.set_wakeup_fd(-1)
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
