# SPDX-License-Identifier: Apache-2.0
"""Kill points injected with strace: an ADD is SIGKILLed at the N-th call of a system call,
for N = 1, 2, ... until an ADD runs to its end without meeting an N-th call."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

Run = Callable[..., subprocess.CompletedProcess[bytes]]


def kill_at_each_point(run: Run, syscalls: tuple[str, ...], after: Callable[[str, int], None], most: int) -> int:
    """Runs `run("ADD", *strace wrapper)` once per kill point of each syscall and `after(syscall,
    n)` after each (the DEL and the comparison); returns how many ADDs were cut short. `most`
    bounds N: an ADD that still meets a call there is a bug in the test, not a pass."""
    killed = 0
    for syscall in syscalls:
        for n in range(1, most + 1):
            inject = f"inject={syscall}:signal=KILL:when={n}"
            add = run("ADD", "strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}", "-e", inject)
            finished = add.returncode == 0
            killed += not finished
            after(syscall, n)
            if finished:
                break
        else:
            pytest.fail(f"ADD still meets a {syscall} call #{most}")
    return killed
