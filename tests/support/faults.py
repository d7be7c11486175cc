# SPDX-License-Identifier: Apache-2.0
"""Kill points injected with strace: an ADD is SIGKILLed at the N-th call of a system call,
for N = 1, 2, ... until an ADD runs to its end without meeting an N-th call.

A plugin exec'd as a launcher runs under strace. Served by the agent, the plugin runs in a
pre-forked worker, so strace attaches to the agent's idle workers instead (each has its own
count) and detaches once the ADD is over; a worker killed before it took the request makes
the shim exec the launcher, which is one more kill point, not the end of the loop."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.agent import SERVING, idle_workers, proc_stat

Run = Callable[..., subprocess.CompletedProcess[bytes]]
#: How often a kill point is tried again when the ADD left no trace (see kill_at_each_point).
UNTRACED_RETRIES = 3


def kill_at_each_point(run: Run, syscalls: tuple[str, ...], after: Callable[[str, int], None], most: int) -> int:
    """Runs `run("ADD", *strace options)` once per kill point of each syscall and
    `after(syscall, n)` after each (the DEL and the comparison); returns how many ADDs were
    cut short. `most` bounds N: an ADD that still meets a call there is a bug in the test,
    not a pass. `run` puts `strace` and the options in front of the plugin, or hands them to
    :func:`traced_workers`."""
    killed = 0
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "strace.log"
        for syscall in syscalls:
            for n in range(1, most + 1):
                inject = f"inject={syscall}:signal=KILL:when={n}"
                for _ in range(UNTRACED_RETRIES):
                    log.write_text("")
                    run("ADD", "-f", "-q", "-o", str(log), "-e", f"trace={syscall}", "-e", inject)
                    text = log.read_text()
                    cut = "killed by SIGKILL" in text
                    after(syscall, n)
                    # The process that served a traced ADD exits (a launcher, or a worker
                    # after its one request): without its exit in the log, the ADD was served
                    # by a worker strace never saw (one that joined the pool as it attached).
                    # Then the same point again, not the end of the loop.
                    if cut or n == 1 or "+++ exited with" in text:
                        break
                killed += cut
                if not cut:
                    break
            else:
                pytest.fail(f"ADD still meets a {syscall} call #{most}")
    return killed


@contextlib.contextmanager
def traced_workers(cni_path: Path, options: tuple[str, ...]) -> Iterator[None]:
    """strace with `options` attached to the idle workers of the agent serving `cni_path`,
    for the duration of the block."""
    agent = SERVING[cni_path]
    workers = idle_workers(agent)
    attach = [arg for pid in sorted(workers) for arg in ("-p", str(pid))]
    tracer = subprocess.Popen(["strace", *options, *attach], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not all(_traced(pid) for pid in workers):
            assert time.monotonic() < deadline, "strace did not attach"
            time.sleep(0.01)
        yield
    finally:
        # The shim returns as soon as its worker dies; strace may not have written the
        # worker's end ("killed by SIGKILL") yet, and that line is how a cut ADD is told.
        if "-o" in options:
            _until_ends_are_logged(Path(options[options.index("-o") + 1]), workers)
        # SIGKILL, not SIGTERM: strace 6.1 can hang detaching from a worker that exited
        # meanwhile; when the tracer dies the kernel detaches its tracees itself.
        tracer.kill()
        tracer.wait(timeout=10)


def _until_ends_are_logged(log: Path, workers: set[int], timeout: float = 5.0) -> None:
    """Until each traced worker that has ended has its end in the log (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if all(re.search(rf"^{pid} +\+\+\+ ", text, re.M) for pid in workers if not _running(pid)):
            return
        time.sleep(0.01)


def _running(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] != b"Z"


def _traced(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f)
    except OSError:
        return True  # gone: nothing left to attach to


def plugin_runner(node: str, plugin: Path, stdin: bytes, env: dict[str, str], cni_path: Path) -> Run:
    """`run(command, *strace options)`: the plugin in the node namespace with `stdin`, under
    strace when options are given: as a wrapper for a launcher, attached to the agent's
    workers for a shim."""

    def run(command: str, *options: str) -> subprocess.CompletedProcess[bytes]:
        def once(*wrapper: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                ["ip", "netns", "exec", node, *wrapper, str(plugin)],
                input=stdin,
                env={**env, "CNI_COMMAND": command},
                capture_output=True,
                check=False,
                timeout=60,
            )

        if options and cni_path in SERVING:
            with traced_workers(cni_path, options):
                return once()
        return once(*(("strace", *options) if options else ()))

    return run
