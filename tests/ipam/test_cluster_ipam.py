# SPDX-License-Identifier: Apache-2.0
"""cluster-ipam against a real 3-member etcd cluster: simulated nodes (each its own name
and local record) allocate in parallel, a member is killed mid-run, every member is
stopped, a dead node's blocks are reclaimed, the pools run out.

The nodes run the plugin in-process (`registry.run`, the code a launcher or the agent
runs), many operations per process, inside the test's etcd namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.etcd import Cluster, run_in

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="needs Debian's etcd-server"),
]

NODE = """
import io, json, sys
from cni.plugins import registry
from cni.ipam import etcd
conf, node, data_dir, verb = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
first, count = int(sys.argv[5]), int(sys.argv[6])
conf["ipam"].update(node=node, dataDir=data_dir)
out = []
for n in range(first, first + count):
    env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": f"{node}-{n}", "CNI_NETNS": "/proc/self/ns/net",
           "CNI_NETNS_OVERRIDE": "1", "CNI_IFNAME": "eth0", "CNI_PATH": "/nonexistent"}
    stdout = io.StringIO()
    stdin = io.BytesIO(json.dumps(conf).encode())
    status = registry.run("cluster-ipam", env=env, stdin=stdin, stdout=stdout, stderr=io.StringIO())
    text = stdout.getvalue()
    out.append(json.loads(text) if text.strip() else {"status": status})
print(json.dumps({"results": out, "requests": etcd.Etcd.total}))
"""


def conf(cluster: Cluster, pools: list[str], **ipam: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "name": "clusternet",
        "type": "bridge",
        "ipam": {"type": "cluster-ipam", "pools": pools, "etcd": {"endpoints": cluster.endpoints}, **ipam},
    }


# The first block claim commits, then its answer is lost, as when the member that
# served it is killed right after the commit: the client asks the next member again.
LOSE_FIRST_CLAIM_ANSWER = """
from cni.ipam import etcd as _etcd
_exchange, _lost = _etcd.Etcd._exchange, []
def _losing(self, path, payload):
    answer = _exchange(self, path, payload)
    if path == "/v3/kv/txn" and b"create_revision" in payload and not _lost:
        _lost.append(path)
        raise OSError("connection reset after the commit")
    return answer
_etcd.Etcd._exchange = _losing
"""


def node(
    cluster: Cluster,
    config: dict[str, Any],
    name: str,
    tmp: Path,
    verb: str = "ADD",
    first: int = 0,
    count: int = 1,
    prelude: str = "",
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            cluster.netns,
            sys.executable,
            "-c",
            prelude + NODE,
            json.dumps(config),
            name,
            str(tmp / name),
            verb,
            str(first),
            str(count),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0
    data: dict[str, Any] = json.loads(out)
    return data


def addresses(results: list[dict[str, Any]]) -> list[str]:
    return [ip["address"].split("/")[0] for r in results for ip in r.get("ips", [])]


ETCD_KEYS = """
import json, sys
from cni.ipam.etcd import Etcd, prefix_end
client = Etcd(json.loads(sys.argv[1]))
print(json.dumps({kv.key.decode(): kv.value.decode() for kv in client.range(b"/cni-ipam/", prefix_end(b"/cni-ipam/"))}))
"""


def etcd_keys(cluster: Cluster) -> dict[str, str]:
    data: dict[str, str] = json.loads(run_in(cluster.netns, ETCD_KEYS, json.dumps(cluster.endpoints)).stdout)
    return data


@pytest.fixture
def cluster(tmp_path: Path, make_netns: Callable[[str], str]) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, make_netns("cipam"))
    try:
        yield cluster
    finally:
        cluster.stop()


def test_add_and_del_on_one_node(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.96.0.0/16", "fd96::/112"])
    result = finish(node(cluster, config, "n1", tmp_path))["results"][0]
    v4, v6 = (ip["address"] for ip in result["ips"])
    import ipaddress

    assert ipaddress.ip_interface(v4).network.prefixlen == 26
    assert ipaddress.ip_address(v4.split("/")[0]) in ipaddress.ip_network("10.96.0.0/16")
    assert ipaddress.ip_address(v6.split("/")[0]) in ipaddress.ip_network("fd96::/112")
    assert v6.endswith("/122")
    keys = etcd_keys(cluster)
    block = str(ipaddress.ip_interface(v4).network)
    assert keys[f"/cni-ipam/clusternet/blocks/{block}"] == '{"node": "n1"}'
    assert keys[f"/cni-ipam/clusternet/ips/{v4.split('/')[0]}"] == "n1-0/eth0"
    assert "/cni-ipam/clusternet/nodes/n1" in keys
    finish(node(cluster, config, "n1", tmp_path, "DEL"))
    keys = etcd_keys(cluster)
    assert not [k for k in keys if "/ips/" in k]


def test_ten_nodes_in_parallel_get_distinct_addresses_and_survive_a_member_kill(
    cluster: Cluster, tmp_path: Path
) -> None:
    config = conf(cluster, ["10.100.0.0/16"])
    count = 1000
    procs = [node(cluster, config, f"n{n}", tmp_path, count=count) for n in range(10)]
    import time

    time.sleep(3)
    cluster.kill(cluster.names[0])  # a member killed mid-run
    runs = [finish(p) for p in procs]
    got = [a for run in runs for a in addresses(run["results"])]
    assert len(got) == 10 * count
    assert len(set(got)) == 10 * count
    keys = etcd_keys(cluster)
    blocks = [k for k in keys if "/blocks/" in k]
    requests = sum(run["requests"] for run in runs)
    print(f"{len(blocks)} blocks, {requests / len(got):.3f} etcd requests per ADD")
    assert len(blocks) < len(got) / 50
    assert len([k for k in keys if "/ips/" in k]) == len(got)


def test_a_claim_whose_answer_was_lost_is_recognised_as_won(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.103.0.0/16"])
    results = finish(node(cluster, config, "n1", tmp_path, count=2, prelude=LOSE_FIRST_CLAIM_ANSWER))["results"]
    got = addresses(results)
    keys = etcd_keys(cluster)
    # One block (the retried claim's own), holding both addresses; no orphaned address.
    import ipaddress

    block = ipaddress.ip_interface(f"{got[0]}/26").network
    assert [k for k in keys if "/blocks/" in k] == [f"/cni-ipam/clusternet/blocks/{block}"]
    assert sorted(k.rsplit("/", 1)[1] for k in keys if "/ips/" in k) == sorted(got)


def test_with_every_member_stopped_owned_blocks_serve_and_dels_sync_later(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.101.0.0/16"])
    first = addresses(finish(node(cluster, config, "n1", tmp_path, count=3))["results"])
    cluster.stop()
    offline = finish(node(cluster, config, "n1", tmp_path, first=3, count=5))["results"]
    assert len(set(addresses(offline))) == 5
    assert not set(addresses(offline)) & set(first)
    dels = finish(node(cluster, config, "n1", tmp_path, "DEL", first=0, count=2))["results"]
    assert all(r == {"status": 0} for r in dels)
    status = finish(node(cluster, {**config, "cniVersion": "1.1.0"}, "n1", tmp_path, "STATUS"))["results"]
    assert status == [{"status": 0}]  # degraded, but the owned block has room
    for name in cluster.names:
        cluster.start(name)
    cluster.wait_healthy()
    # The next operation that reaches etcd writes what waited, oldest first.
    later = addresses(finish(node(cluster, config, "n1", tmp_path, "ADD", first=100, count=1))["results"])
    held = {k.rsplit("/", 1)[1] for k in etcd_keys(cluster) if "/ips/" in k}
    assert held == set(first[2:]) | set(addresses(offline)) | set(later)


def test_a_full_pool_fails_add_clearly_and_status_with_50(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.102.0.0/26"])
    results = finish(node(cluster, config, "n1", tmp_path, count=61))["results"]
    assert len(set(addresses(results))) == 61
    refused = finish(node(cluster, config, "n2", tmp_path))["results"][0]
    assert refused["code"] == 11, refused  # AddressExhausted: try again later (a block may be given back)
    assert "every IPv4 block of 10.102.0.0/26 is claimed" in refused["msg"]
    status = finish(node(cluster, config, "n2", tmp_path, "STATUS"))["results"][0]
    assert status["code"] == 50, status


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            cluster.netns,
            sys.executable,
            "-m",
            "cni.cli",
            "ipam",
            *args,
            "--etcd",
            ",".join(cluster.endpoints),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )


REVOKE_NODE = """
import json, sys
from cni.ipam.etcd import Etcd
client = Etcd(json.loads(sys.argv[1]))
client.call("/v3/kv/deleterange", {"key": __import__("cni.ipam.etcd").ipam.etcd.encode(sys.argv[2].encode())})
"""


def test_show_and_reclaim_a_dead_nodes_blocks(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.103.0.0/16"])
    finish(node(cluster, config, "alive", tmp_path, count=2))
    finish(node(cluster, config, "dead", tmp_path, count=70))  # two blocks
    shown = json.loads(cli(cluster, "show", "clusternet", "--json").stdout)
    assert sorted(i["node"] for i in shown["blocks"].values()) == ["alive", "dead", "dead"]
    assert sum(i["used"] for i in shown["blocks"].values()) == 72
    table = cli(cluster, "show", "clusternet").stdout.decode()
    assert table.splitlines()[0].split() == ["block", "node", "used"]
    assert "nodes alive: alive, dead" in table
    # Its lease has not expired: refused.
    refused = cli(cluster, "reclaim", "clusternet", "dead", "--grace", "0")
    assert refused.returncode == 1
    assert b"alive" in refused.stderr
    run_in(cluster.netns, REVOKE_NODE, json.dumps(cluster.endpoints), "/cni-ipam/clusternet/nodes/dead")
    assert cli(cluster, "reclaim", "clusternet", "dead", "--grace", "3600").returncode == 1  # seen just now
    freed = json.loads(cli(cluster, "reclaim", "clusternet", "dead", "--grace", "0", "--json").stdout)
    assert len(freed["reclaimed"]) == 2
    shown = json.loads(cli(cluster, "show", "clusternet", "--json").stdout)
    assert [i["node"] for i in shown["blocks"].values()] == ["alive"]
    assert sum(i["used"] for i in shown["blocks"].values()) == 2


def test_gc_releases_lost_attachments_and_empty_blocks_go_back(cluster: Cluster, tmp_path: Path) -> None:
    config = conf(cluster, ["10.104.0.0/16"])
    finish(node(cluster, config, "n1", tmp_path, count=70))  # two blocks
    assert len([k for k in etcd_keys(cluster) if "/blocks/" in k]) == 2
    gc = {**config, "cni.dev/valid-attachments": [{"containerID": "n1-0", "ifname": "eth0"}]}
    assert finish(node(cluster, gc, "n1", tmp_path, "GC"))["results"] == [{"status": 0}]
    keys = etcd_keys(cluster)
    assert [v for k, v in keys.items() if "/ips/" in k] == ["n1-0/eth0"]
    # The block left empty went back; the one still in use stays.
    assert len([k for k in keys if "/blocks/" in k]) == 1


def test_over_tls_with_client_certificates(tmp_path: Path, make_netns: Callable[[str], str]) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    from tests.support.etcd import make_certificates

    files = make_certificates(tmp_path / "pki")
    cluster = Cluster(tmp_path, make_netns("cipamtls"), tls=files)
    try:
        etcd = {
            "endpoints": cluster.endpoints,
            "caFile": str(files["ca"]),
            "certFile": str(files["client"]),
            "keyFile": str(files["client-key"]),
        }
        config = {
            **conf(cluster, ["10.105.0.0/16"]),
            "ipam": {**conf(cluster, ["10.105.0.0/16"])["ipam"], "etcd": etcd},
        }
        results = finish(node(cluster, config, "n1", tmp_path, count=3))["results"]
        assert len(set(addresses(results))) == 3
        # Without a client certificate, etcd refuses the node (client-cert-auth).
        anonymous = {
            **config,
            "ipam": {**config["ipam"], "etcd": {"endpoints": cluster.endpoints, "caFile": str(files["ca"])}},
        }
        refused = finish(node(cluster, anonymous, "n2", tmp_path))["results"][0]
        assert refused["code"] == 51, refused
    finally:
        cluster.stop()
