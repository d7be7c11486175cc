# SPDX-License-Identifier: Apache-2.0
"""A `cni agent` for tests: started in a network namespace of the test's, stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cni._native import warm_encode

CLI = [sys.executable, "-m", "cni.cli"]


#: The agent serving each shim directory the session's fixtures installed.
SERVING: dict[Path, Agent] = {}


class Agent:
    def __init__(self, proc: subprocess.Popen[bytes], sock: Path, log: Path, pool: int) -> None:
        self.proc = proc
        self.socket = sock
        self.log_path = log
        self.pool = pool

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pool_process(self) -> int | None:
        """The supervisor's child that forks the workers (None between two of them)."""
        found = children(self.pid)
        return min(found) if found else None

    def workers(self) -> set[int]:
        """The pool process's children now (idle and busy workers)."""
        return {pid for pool in children(self.pid) for pid in children(pool)}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _sockets(pid: int) -> set[str]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                found.add(target)
    except OSError:
        pass
    return found


def busy_workers(agent: Agent) -> set[int]:
    """The agent's workers serving a request now (they have closed the listening socket)."""
    listener = _sockets(agent.pid)
    return {pid for pid in agent.workers() if not listener & _sockets(pid)}


def idle_workers(agent: Agent, timeout: float = 10.0) -> set[int]:
    """The agent's workers once the pool is at rest: as many as it keeps, each still holding
    the listening socket (a busy one has closed it) and waiting for a connection (a new one
    first rehearses: its calls are not a request's), and no busy one left."""
    deadline = time.monotonic() + timeout
    listener = _sockets(agent.pid)
    while time.monotonic() < deadline:
        found = agent.workers()
        if len(found) == agent.pool and all(listener & _sockets(pid) and _waiting(pid) for pid in found):
            return found
        time.sleep(0.02)
    raise RuntimeError(f"the agent's pool is not at rest: workers {sorted(agent.workers())}")


def _waiting(pid: int) -> bool:
    """Asleep in epoll_wait: an idle worker that has finished its rehearsal."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read() == "do_epoll_wait"
    except OSError:
        return False


def proc_stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat's fields after the command name (the state first, then the parent),
    or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()
    except OSError:
        return None


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := proc_stat(int(entry))) is not None and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def wait_until_serving(log: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Until the agent says it serves (its signal handling is in place by then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cni agent exited with {proc.returncode}: {log.read_text()}")
        if b" serving " in log.read_bytes():
            return
        time.sleep(0.05)
    raise RuntimeError(f"cni agent does not serve after {timeout} s: {log.read_text()}")


def start_agent(
    sock: Path,
    *,
    netns: str | None = None,
    workers: int = 4,
    env: dict[str, str] | None = None,
    verbose: bool = False,
    wrapper: tuple[str, ...] = (),
    wait: bool = True,
) -> Agent:
    """Starts `cni agent --socket sock` (in `netns` when given, under `wrapper` such as
    systemd-socket-activate) and, when `wait`, until it serves."""
    sock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = sock.parent / f"{sock.name}.log"
    log.write_bytes(b"")
    command = [*wrapper, *CLI, "agent", "--socket", str(sock), "--workers", str(workers)]
    if verbose:
        command.append("--verbose")
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out, env=env, start_new_session=True)
    try:
        if wait:
            wait_until_serving(log, proc)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return Agent(proc, sock, log, workers)


def request_bytes(plugin: str = "loopback", version: str | None = None, env: list[bytes] | None = None) -> bytes:
    """A request as the shim would send it (without its descriptors)."""
    import cni

    return bytes(
        warm_encode((version or cni.__version__).encode(), plugin.encode(), b"/", 0o022, [plugin.encode()], env or [])
    )
