# SPDX-License-Identifier: Apache-2.0
"""A full disk (issue 9, 7): a failed ADD leaves nothing it wrote, and DEL still releases.

Runs tests/drivers/disk_full.py in a private mount namespace with a 512 KiB tmpfs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import is_root

DRIVER = Path(__file__).parent.parent / "drivers" / "disk_full.py"


def test_full_disk_failed_adds_leave_nothing_and_dels_release(our_bin: Path, tmp_path: Path) -> None:
    if not is_root() or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, str(DRIVER), str(our_bin), str(tmp_path)],
        capture_output=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(Path(__file__).parent.parent.parent), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    report = json.loads(out.stdout)
    outcomes = {step["pages"]: step for step in report["host_local"]}
    assert outcomes[0]["status"] == 1, "no page free: the reservation cannot be written"
    for step in outcomes.values():
        assert step["strays"] == []
        if step["status"]:
            assert step["answer"]["code"] == 5, step
            assert "fullnet" in step["answer"]["msg"]
            assert step["after"] == step["before"], f"a failed ADD left a reservation: {step}"
        else:
            assert len(step["after"]) == len(step["before"]) + 1
    assert any(step["status"] == 0 for step in outcomes.values()), "with room, ADD works"
    runtime = {step["pages"]: step for step in report["runtime"]}
    assert runtime[0]["code"] == 5, "the result could not be cached"
    for step in runtime.values():
        if step["code"]:
            assert step["cache"] == [], f"a failed ADD left a cache file: {step}"
            assert len(step["store"]) == sum(
                1 for s in runtime.values() if s["pages"] < step["pages"] and not s["code"]
            )
    assert set(report["del"].values()) == {0}, report["del"]
    assert report["after_del"] == {"store": [], "elsewhere": [], "cache": []}
    assert report["after_room"]["status"] == 0
    assert report["after_room"]["answer"]["ips"][0]["address"].startswith("10.99.0.")
