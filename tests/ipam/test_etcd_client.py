# SPDX-License-Identifier: Apache-2.0
"""The etcd client of the cluster IPAM against a real 3-member etcd cluster: reads,
compare-and-swap transactions, leases, and a member killed under it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.etcd import Cluster, run_in

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="needs Debian's etcd-server"),
]


@pytest.fixture
def cluster(tmp_path: Path, make_netns: Callable[[str], str]) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, make_netns("etcd"))
    try:
        yield cluster
    finally:
        cluster.stop()


OPERATIONS = """
import json, sys
from cni.ipam.etcd import Etcd, prefix_end
client = Etcd(json.loads(sys.argv[1]))
out = {}
out["created"] = client.create(b"/t/block/a", b"node1")
out["created again"] = client.create(b"/t/block/a", b"node2")
kv = client.get(b"/t/block/a")
out["value"] = kv.value.decode()
out["stale swap"] = client.swap(b"/t/block/a", kv.mod_revision - 1, b"node3")
out["swap"] = client.swap(b"/t/block/a", kv.mod_revision, b"node3")
client.put(b"/t/block/b", bytes(range(256)))
out["binary"] = client.get(b"/t/block/b").value == bytes(range(256))
out["range"] = [kv.key.decode() for kv in client.range(b"/t/", prefix_end(b"/t/"))]
kv = client.get(b"/t/block/a")
out["delete"] = client.swap(b"/t/block/a", kv.mod_revision, None)
out["gone"] = client.get(b"/t/block/a") is None
lease = client.lease_grant(60)
out["lease ttl"] = 0 < client.lease_ttl(lease) <= 60
out["no lease"] = client.lease_ttl(123456789)
out["requests"] = client.requests
print(json.dumps(out))
"""


def test_reads_transactions_and_leases(cluster: Cluster) -> None:
    out = json.loads(run_in(cluster.netns, OPERATIONS, json.dumps(cluster.endpoints)).stdout)
    assert out == {
        "created": True,
        "created again": False,
        "value": "node1",
        "stale swap": False,
        "swap": True,
        "binary": True,
        "range": ["/t/block/a", "/t/block/b"],
        "delete": True,
        "gone": True,
        "lease ttl": True,
        "no lease": -1,
        "requests": 14,  # one round trip per operation
    }


FAILOVER = """
import json, sys
from cni.ipam.etcd import Etcd, Unavailable
client = Etcd(json.loads(sys.argv[1]), timeout=1)
client.put(b"/f", b"1")
print(client.current, flush=True)
sys.stdin.readline()  # the test kills that member now
client.put(b"/f", b"2")
print(client.current, client.get(b"/f").value.decode(), flush=True)
sys.stdin.readline()  # every member stopped
try:
    client.get(b"/f")
except Unavailable as err:
    print("unavailable", err.code, flush=True)
"""


def test_a_killed_member_moves_the_client_to_another(cluster: Cluster) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        ["ip", "netns", "exec", cluster.netns, sys.executable, "-c", FAILOVER, json.dumps(cluster.endpoints)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        first = int(proc.stdout.readline())
        cluster.kill(cluster.names[first])
        proc.stdin.write("\n")
        proc.stdin.flush()
        current, value = proc.stdout.readline().split()
        assert int(current) != first
        assert value == "2"
        cluster.stop()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["unavailable", "11"]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
