# SPDX-License-Identifier: Apache-2.0
"""IPAM speed: the allocator from Python, and host-local ADD/DEL as processes.

    make bench     # or: .venv/bin/python -m pytest benches/test_ipam.py --benchmark-enable

- `allocate()` + `release()` of one address on a /24, /16, /8 and an IPv6 /64 at 0 %, 50 %
  and 99 % fill (the fill is scattered: every other address free at 50 %, one in a hundred
  at 99 %). Half or all of a /64 cannot be built, so the /64 is measured empty and with a
  million addresses in use. A pure-Python set allocator at 99.99 % of a /16 is the baseline.
- How many addresses a range set can still hand out (STATUS of host-local and cluster-ipam,
  `IPAllocator.free`), for a /24 beside a /12 of the same family, with the /12 empty and
  with a million of its addresses in use: the count of one range must not pay for the
  other's leaves.
- host-local ADD and DEL, each a whole process, with 0, 1,000 and 10,000 reservations in the
  store, ours beside Debian's reference binary.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from cni._native import AddressPool, RangeSet
from cni.ipam import IPAllocator

SUBNETS = {"/24": "10.0.0.0/24", "/16": "10.0.0.0/16", "/8": "10.0.0.0/8", "/64": "fd00::/64"}
REFERENCE_HOST_LOCAL = Path("/usr/lib/cni/host-local")


@cache
def filled(size: str, fill: str) -> IPAllocator:
    """An allocator of `size` at `fill`, built once per session (a /8 takes seconds)."""
    pool = IPAllocator(SUBNETS[size])
    if size == "/64":
        for _ in range(0 if fill == "0%" else 1_000_000):
            pool.allocate()
        return pool
    if fill == "0%":
        return pool
    while pool.free:
        pool.allocate()
    start = int(pool.range_start)
    stride = 2 if fill == "50%" else 100
    for value in range(start, int(pool.range_end) + 1, stride):
        pool.release(ipaddress.IPv4Address(value))
    return pool


CASES = [(s, f) for s in ("/24", "/16", "/8") for f in ("0%", "50%", "99%")] + [("/64", "0%"), ("/64", "1M used")]


@pytest.mark.benchmark(group="allocate+release")
@pytest.mark.parametrize(("size", "fill"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_allocate_release_pair(benchmark: BenchmarkFixture, size: str, fill: str) -> None:
    pool = filled(size, fill)
    used = len(pool)

    def pair() -> None:
        pool.release(pool.allocate())

    benchmark(pair)
    assert len(pool) == used


@pytest.mark.benchmark(group="allocate+release")
def test_baseline_python_set_allocator_at_99_99_percent_of_a_16(benchmark: BenchmarkFixture) -> None:
    """A straightforward pure-Python allocator: a set, scanned round-robin from the cursor."""
    size = 2**16 - 2
    used = set(range(size))
    for value in range(0, size, 10_000):
        used.discard(value)  # 99.99 % full: 7 free addresses, spread out
    cursor = [0]

    def pair() -> None:
        start = cursor[0] + 1
        free = next(v % size for v in range(start, start + size) if v % size not in used)
        used.add(free)
        cursor[0] = free
        used.discard(free)

    benchmark(pair)


@cache
def two_ranges(other: str) -> tuple[RangeSet, AddressPool]:
    """A /24 and a /12 in one range set, 30 addresses of the /24 and `other` of the /12 in use."""
    ranges = RangeSet([{"subnet": "10.1.0.0/24"}, {"subnet": "10.16.0.0/12"}])
    pool = AddressPool()
    for n in range(2, 32):
        pool.add(f"10.1.0.{n}")
    start = int(ipaddress.IPv4Address("10.16.0.2"))
    for n in range(0 if other == "empty" else 1_000_000):
        pool.add(str(ipaddress.IPv4Address(start + n)))
    return ranges, pool


@pytest.mark.benchmark(group="range set free")
@pytest.mark.parametrize("other", ["empty", "1M used"])
def test_range_set_free_of_a_24_beside_a_12(benchmark: BenchmarkFixture, other: str) -> None:
    ranges, pool = two_ranges(other)
    # Each range hands out its subnet less the network, broadcast and gateway addresses.
    expected = (2**8 - 3 - 30) + (2**20 - 3 - (0 if other == "empty" else 1_000_000))
    assert benchmark(ranges.free, pool) == expected


# --- host-local as a process ---------------------------------------------------------------------


def populate(data_dir: Path, count: int) -> None:
    directory = data_dir / "bench"
    directory.mkdir(parents=True)
    for n in range(count):
        ip = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.200.0.2")) + n)
        path = directory / str(ip)
        path.write_bytes(f"pre-{n}\r\neth0".encode())
        path.chmod(0o600)
    if count:
        (directory / "last_reserved_ip.0").write_text(str(ip))


def exec_plugin(plugin: Path, command: str, conf: bytes) -> None:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "bench",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(plugin.parent),
    }
    out = subprocess.run([str(plugin)], input=conf, env=env, capture_output=True, check=False)
    assert out.returncode == 0, out.stdout


IMPLEMENTATIONS = ["ours", "ours-agent", "reference"]
COUNTS = [0, 1000, 10_000]


@pytest.fixture
def host_local(request: pytest.FixtureRequest, our_bin: Path) -> Path:
    """`ours` is the launcher a runtime would exec without the warm path, `ours-agent` the
    shim served by a running agent."""
    if request.param == "reference":
        if not REFERENCE_HOST_LOCAL.exists():
            pytest.skip("needs containernetworking-plugins")
        return REFERENCE_HOST_LOCAL
    if request.param == "ours-agent":
        shims: Path = request.getfixturevalue("agent_bin")
        return shims / "host-local"
    return our_bin / "host-local"


def conf_for(data_dir: Path) -> bytes:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "bench",
        "type": "bridge",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.200.0.0/16"}]], "dataDir": str(data_dir)},
    }
    return json.dumps(conf).encode()


@pytest.mark.parametrize("verb", ["ADD", "DEL"])
@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("host_local", IMPLEMENTATIONS, indirect=True)
def test_host_local(benchmark: BenchmarkFixture, host_local: Path, count: int, verb: str, tmp_path: Path) -> None:
    """One ADD (after an untimed DEL) or one DEL (after an untimed ADD), as a process."""
    benchmark.group = f"host-local {verb} at {count}"
    populate(tmp_path, count)
    conf = conf_for(tmp_path)
    undo = "DEL" if verb == "ADD" else "ADD"
    benchmark.pedantic(
        exec_plugin,
        args=(host_local, verb, conf),
        setup=lambda: exec_plugin(host_local, undo, conf),
        rounds=25,
        warmup_rounds=1,
    )
    # Reservations, the lock and the round-robin hint (and our index, which the reference lacks).
    listed = [name for name in os.listdir(tmp_path / "bench") if name != ".cni-index"]
    assert len(listed) == count + (3 if verb == "ADD" else 2)
