# SPDX-License-Identifier: Apache-2.0
"""host-local beside the reference plugin, under concurrency, and across crashes.

Case names (K1, F2, ...) are those of shared/docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.env import is_root
from tests.support.procs import Outcome, host_local_conf, reservations, run_plugin


@pytest.fixture
def hl(our_bin: Path) -> Path:
    return our_bin / "host-local"


T = TypeVar("T")


def parallel(jobs: Sequence[Callable[[], T]], workers: int = 16) -> list[T]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


# --- switching between the reference plugin and ours --------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize("first", ["ours", "reference"])
def test_reserve_with_one_release_with_the_other(hl: Path, reference_bin: Path, tmp_path: Path, first: str) -> None:
    ref = reference_bin / "host-local"
    a, b = (hl, ref) if first == "ours" else (ref, hl)
    conf = host_local_conf(tmp_path, ranges=[[{"subnet": "10.60.0.0/24"}], [{"subnet": "fd60::/64"}]])
    assert run_plugin(a, "ADD", conf, "x1").ips() == ["10.60.0.2/24", "fd60::2/64"]
    # The other continues the round-robin from the same last_reserved_ip files...
    assert run_plugin(b, "ADD", conf, "x2").ips() == ["10.60.0.3/24", "fd60::3/64"]
    # ...refuses a duplicate it did not create...
    assert run_plugin(b, "ADD", conf, "x1").status == 1
    # ...and releases what the first one reserved, and vice versa.
    assert run_plugin(b, "DEL", conf, "x1").status == 0
    assert run_plugin(a, "DEL", conf, "x2").status == 0
    assert reservations(tmp_path) == {}
    assert run_plugin(a, "ADD", conf, "x3").ips() == ["10.60.0.4/24", "fd60::4/64"]
    assert run_plugin(b, "ADD", conf, "x4").ips() == ["10.60.0.5/24", "fd60::5/64"]
    assert reservations(tmp_path) == {
        "10.60.0.4": "x3\r\neth0",
        "fd60::4": "x3\r\neth0",
        "10.60.0.5": "x4\r\neth0",
        "fd60::5": "x4\r\neth0",
    }


@pytest.mark.interop
def test_reference_store_with_many_entries_is_adopted(hl: Path, reference_bin: Path, tmp_path: Path) -> None:
    ref = reference_bin / "host-local"
    conf = host_local_conf(tmp_path)
    for n in range(20):
        assert run_plugin(ref, "ADD", conf, f"r{n}").status == 0
    assert run_plugin(hl, "ADD", conf, "ours").ips() == ["10.40.0.22/24"]
    for n in range(0, 20, 2):
        assert run_plugin(hl, "DEL", conf, f"r{n}").status == 0
    assert run_plugin(ref, "DEL", conf, "ours").status == 0
    assert sorted(reservations(tmp_path).values()) == sorted(f"r{n}\r\neth0" for n in range(1, 20, 2))


@pytest.mark.interop
def test_legacy_id_only_files_are_released_by_container(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    directory = tmp_path / "hlnet"
    directory.mkdir()
    (directory / "10.40.0.9").write_bytes(b"old-ctr\n")
    assert run_plugin(hl, "DEL", conf, "old-ctr").status == 0
    assert reservations(tmp_path) == {}


# --- concurrency ------------------------------------------------------------------------------------


def test_k1_fifty_parallel_adds(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    outs = parallel([partial(run_plugin, hl, "ADD", conf, f"k1-{n}") for n in range(50)])
    assert all(o.status == 0 for o in outs), [o.json for o in outs if o.status]
    ips = [o.ips()[0] for o in outs]
    assert len(set(ips)) == 50
    found = reservations(tmp_path)
    assert len(found) == 50
    assert all(content for content in found.values()), "no 0-byte reservation"
    assert sorted(os.listdir(tmp_path / "hlnet")) == sorted([*found, ".cni-index", "lock", "last_reserved_ip.0"])


def test_k2_churn_keeps_a_bijection(hl: Path, tmp_path: Path) -> None:
    """16 workers, 2,000 ADDs and DELs; at every checkpoint the store is a bijection."""
    conf = host_local_conf(tmp_path, ranges=[[{"subnet": "10.40.0.0/26"}]])
    rng = random.Random(7)
    live: dict[str, str] = {}
    operations = 0

    def labelled(verb: str, cid: str) -> tuple[str, str, Outcome]:
        return verb, cid, run_plugin(hl, verb.upper(), conf, cid)

    while operations < 2000:
        room = 61 - len(live)  # a /26 has 61 addresses to give (less network, gateway, broadcast)
        adds = [f"k2-{uuid.uuid4().hex[:8]}" for _ in range(min(room, rng.randint(8, 24)))]
        dels = rng.sample(sorted(live), k=min(len(live), rng.randint(4, 16)))
        jobs = [partial(labelled, "add", c) for c in adds] + [partial(labelled, "del", c) for c in dels]
        rng.shuffle(jobs)
        operations += len(jobs)
        for verb, cid, out in parallel(jobs):
            assert out.status == 0, (verb, out.json)
            if verb == "add":
                live[cid] = out.ips()[0].split("/")[0]
            else:
                live.pop(cid)
        found = reservations(tmp_path)
        assert {ip: content.split("\r\n")[0] for ip, content in found.items()} == {ip: c for c, ip in live.items()}


def test_k3_more_adds_than_addresses(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(
        tmp_path, ranges=[[{"subnet": "10.40.0.0/24", "rangeStart": "10.40.0.10", "rangeEnd": "10.40.0.19"}]]
    )
    outs = parallel([partial(run_plugin, hl, "ADD", conf, f"k3-{n}") for n in range(20)])
    ok = [o for o in outs if o.status == 0]
    failed = [o for o in outs if o.status != 0]
    assert len(ok) == 10
    assert {o.code for o in failed} == {11}
    assert len(reservations(tmp_path)) == 10


def test_k4_same_attachment_twice_in_parallel(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    outs = parallel([lambda: run_plugin(hl, "ADD", conf, "same") for _ in range(2)])
    assert sorted(o.status for o in outs) == [0, 1]
    assert "duplicate allocation" in next(o for o in outs if o.status).json["msg"]
    assert len(reservations(tmp_path)) == 1


# --- crashes ------------------------------------------------------------------------------------------


def test_f2_kill_at_random_points_never_leaves_a_partial_reservation(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(hl.parent),
    }
    rng = random.Random(3)
    for n in range(30):
        proc = subprocess.Popen(
            [str(hl)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env={**env, "CNI_CONTAINERID": f"f2-{n}"}
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(conf).encode())
        proc.stdin.close()
        time.sleep(rng.uniform(0.0, 0.04))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for ip, content in reservations(tmp_path).items():
            assert content.startswith("f2-"), (ip, content)
            assert content.endswith("\r\neth0"), (ip, content)
    # Whatever was reserved is whole, and the store still works and cleans up with GC.
    gc = {**host_local_conf(tmp_path, version="1.1.0"), "cni.dev/valid-attachments": []}
    assert run_plugin(hl, "GC", gc).status == 0
    assert reservations(tmp_path) == {}
    assert not [p for p in (tmp_path / "hlnet").iterdir() if p.name.startswith(".cni-tmp")]
    assert run_plugin(hl, "ADD", conf, "after").status == 0


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Any:
    """A tmpfs with room for only a few files, mounted for this test alone."""
    if not is_root():
        pytest.skip("needs root to mount a tmpfs")
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=6", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_f3_out_of_space_fails_cleanly_then_recovers(hl: Path, tiny_tmpfs: Path) -> None:
    conf = host_local_conf(tiny_tmpfs)
    outs = [run_plugin(hl, "ADD", conf, f"f3-{n}") for n in range(4)]
    failed = [o for o in outs if o.status]
    assert failed, "the tmpfs should have run out of inodes"
    assert all(o.code == 5 for o in failed), [o.json for o in failed]
    assert all(str(tiny_tmpfs) in o.json["msg"] for o in failed)
    granted = {o.ips()[0].split("/")[0] for o in outs if o.status == 0}
    assert set(reservations(tiny_tmpfs)) == granted, "no orphan reservation from the failures"
    subprocess.run(["mount", "-o", "remount,nr_inodes=1000", str(tiny_tmpfs)], check=True)
    assert run_plugin(hl, "ADD", conf, "f3-after").status == 0


# Holds the store's lock, starts a long-lived child (as a plugin exec'ing a helper would),
# says so, and waits to be killed. The child must not inherit the lock.
_HOLD_LOCK_AND_SPAWN = """
import subprocess, sys, time
sys.path[:0] = {paths!r}
from cni.ipam.store import DiskStore
with DiskStore("hlnet", {data_dir!r}):
    subprocess.Popen(["sleep", "60"], close_fds=False)
    print("locked", flush=True)
    time.sleep(60)
"""


def test_k8_lock_is_not_inherited_by_children(hl: Path, tmp_path: Path) -> None:
    """K8: the holder is killed while its child lives on; the next ADD is not blocked."""
    import cni

    paths = [os.path.dirname(os.path.dirname(cni.__file__))]
    script = _HOLD_LOCK_AND_SPAWN.format(paths=paths, data_dir=str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"locked"
        holder.kill()
        holder.wait(timeout=10)
        # The sleeping child still runs; had it inherited the lock, this would wait for it.
        out = run_plugin(hl, "ADD", host_local_conf(tmp_path), timeout=10)
        assert out.status == 0, out.json
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        if holder.stdout is not None:
            holder.stdout.close()
