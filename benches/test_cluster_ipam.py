# SPDX-License-Identifier: Apache-2.0
"""cluster-ipam ADD against a 3-member etcd cluster, at 1, 10 and 1,000 pods on the node,
beside a per-address design run the same way (no blocks: one create transaction per
address, on a key per address, from a cursor of the node's). Both run in a worker process
inside the cluster's namespace (the plugin in-process, as the agent's worker runs it);
each timed call is one ADD there. `extra_info` has the etcd round trips per ADD.

    .venv/bin/python -m pytest benches/test_cluster_ipam.py --benchmark-enable
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.etcd import Cluster

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="needs Debian's etcd-server"),
]

WORKER = """
import io, json, sys
from cni.ipam import etcd
design, endpoints, data_dir = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
conf = {"cniVersion": "1.1.0", "name": "benchnet", "type": "bridge",
        "ipam": {"type": "cluster-ipam", "pools": ["10.110.0.0/16"], "etcd": {"endpoints": endpoints},
                 "node": "bench", "dataDir": data_dir}}
client, cursor = etcd.Etcd(endpoints), 0
def per_address(n):
    global cursor
    while True:
        cursor += 1
        ip = f"10.110.{cursor // 254}.{cursor % 254 + 1}"
        if client.create(f"/per-address/ips/{ip}".encode(), f"c{n}/eth0".encode()):
            return
def ours(n):
    from cni.plugins import registry
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"c{n}", "CNI_NETNS": "/proc/self/ns/net",
           "CNI_NETNS_OVERRIDE": "1", "CNI_IFNAME": "eth0", "CNI_PATH": "/nonexistent"}
    out = io.StringIO()
    assert registry.run("cluster-ipam", env=env, stdin=io.BytesIO(json.dumps(conf).encode()), stdout=out,
                        stderr=io.StringIO()) == 0, out.getvalue()
add = ours if design == "ours" else per_address
made = 0
for line in sys.stdin:
    before = etcd.Etcd.total
    for _ in range(int(line)):
        add(made)
        made += 1
    print(etcd.Etcd.total - before, flush=True)
"""


@pytest.fixture
def cluster(tmp_path: Path, make_netns: Callable[[str], str]) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, make_netns("cibench"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("pods", [1, 10, 1000])
@pytest.mark.parametrize("design", ["ours", "per-address"])
def test_cluster_ipam_add(
    benchmark: BenchmarkFixture, cluster: Cluster, tmp_path: Path, design: str, pods: int
) -> None:
    benchmark.group = f"cluster IPAM ADD at {pods} pods per node"
    worker = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            cluster.netns,
            sys.executable,
            "-c",
            WORKER,
            design,
            json.dumps(cluster.endpoints),
            str(tmp_path / "node"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None
    assert worker.stdout is not None

    def add(count: int) -> int:
        assert worker.stdin is not None
        assert worker.stdout is not None
        worker.stdin.write(f"{count}\n")
        worker.stdin.flush()
        return int(worker.stdout.readline())

    try:
        if pods > 1:
            add(pods - 1)  # the node's pods so far (untimed)
        trips: list[int] = []
        benchmark.pedantic(lambda: trips.append(add(1)), rounds=20, warmup_rounds=0, iterations=1)
        benchmark.extra_info["etcd_round_trips_per_add"] = sum(trips) / len(trips)
        spread = add(200)  # a longer run: the claims' share shows
        benchmark.extra_info["etcd_round_trips_per_add_over_200"] = spread / 200
    finally:
        worker.kill()
        worker.wait(timeout=10)
        worker.stdin.close()
        worker.stdout.close()
