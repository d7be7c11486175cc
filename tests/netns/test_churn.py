# SPDX-License-Identifier: Apache-2.0
"""The runtime library under churn (issue 9): sixteen threads sharing one CNIConfig, and
sixteen processes, 2,000 operations on bridge + host-local, then GC with the live set.

The churn itself runs in tests/drivers/churn.py inside the node namespace; kernel state is
read here with pyroute2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import World

pytestmark = pytest.mark.netns

DRIVER = Path(__file__).parent.parent / "drivers" / "churn.py"
WORKERS = 16
OPERATIONS = 2000


def conflist() -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "name": "churnnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "churnbr0",
                "isGateway": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "dataDir": "@IPAM@"},
            }
        ],
    }


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_churn_then_gc_leaves_exactly_the_live_set(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, mode: str
) -> None:
    from pyroute2 import NetNS

    world = World("ch", tmp_path, make_netns, conflist(), our_bin, pods=WORKERS)
    argv = [sys.executable, str(DRIVER), mode, str(WORKERS), str(OPERATIONS), str(world.conf_file)]
    argv += [str(our_bin), str(world.cache), *(world.pod_path(i) for i in range(WORKERS))]
    out = world.in_node(argv, env={"PYTHONPATH": str(Path(__file__).parent.parent.parent)})
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    report = json.loads(out.stdout)
    assert report["failures"] == []
    assert report["mismatches"] == [], "every answer went to its caller"
    live: dict[str, str] = report["live"]
    assert len(live) == WORKERS
    assert len(set(live.values())) == WORKERS, "live addresses are unique"
    assert report["removed"] == []
    if mode == "threads":
        assert report["fds_after"] == report["fds_before"], "no fd left open"
        assert report["threads_left"] == 0
    # The store holds exactly the live set ...
    store = world.ipam / world.network
    reserved = {
        p.name: p.read_bytes().decode().split("\r\n")[0]
        for p in store.iterdir()
        if p.name not in ("lock", ".cni-index") and not p.name.startswith("last_reserved_ip.")
    }
    assert reserved == {ip.split("/")[0]: cid for cid, ip in live.items()}
    # ... the bridge has one port per live pod ...
    with NetNS(world.node) as ns:
        (bridge,) = ns.get_links(ifname="churnbr0")
        ports = [link for link in ns.get_links() if link.get_attr("IFLA_MASTER") == bridge["index"]]
    assert len(ports) == WORKERS
    # ... and the cache has one entry per live attachment, and nothing else.
    assert sorted(os.listdir(world.cache / "results")) == sorted(f"churnnet-{cid}-eth0" for cid in live)


def test_ten_thousand_routes_install_and_go(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    """A result with 10,000 routes: the kernel's acknowledgements of one batch must fit our
    receive buffer, so the batch is sent in datagrams it can take (it failed with ENOBUFS
    from about 250 routes)."""
    from pyroute2 import NetNS

    conf = conflist()
    routes = [{"dst": f"10.{200 + n // 65536}.{n // 256 % 256}.{n % 256}/32"} for n in range(10_000)]
    conf["plugins"][0]["ipam"]["routes"] = routes
    world = World("rt", tmp_path, make_netns, conf, our_bin)
    out = world.cni("add", 0, "many")
    assert out.returncode == 0, out.stdout.decode()[-2000:]
    assert len(json.loads(out.stdout)["routes"]) == 10_000
    with NetNS(world.pods[0]) as ns:
        installed = {r.get_attr("RTA_DST") for r in ns.get_routes(family=2, table=254) if r["dst_len"] == 32}
    assert installed == {r["dst"].split("/")[0] for r in routes}
    out = world.cni("del", 0, "many")
    assert out.returncode == 0, out.stdout.decode()[-2000:]
    with NetNS(world.pods[0]) as ns:
        assert list(ns.get_links(ifname="eth0")) == []
        assert [r for r in ns.get_routes(family=2, table=254) if r["dst_len"] == 32] == []
