# SPDX-License-Identifier: Apache-2.0
"""portmap and the firewall chain, ours beside Debian's reference (v1.1.1, iptables-nft).

1. portmap ADD and DEL of one mapping, as a process, in a node that already holds 10, 1,000
   or 10,000 mappings (one per attachment): ours on nftables and on iptables, the reference
   on iptables (it has no nftables backend). Each plugin runs through `ip netns exec`,
   which costs the same for all.
2. The chain bridge (ipMasq) + host-local, portmap, tuning through libcni at 20, 100 and
   300 pods (each with a mapping), ours (on each backend) beside the reference.

    .venv/bin/python -m pytest benches/test_firewall.py --benchmark-enable
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import World, ok

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not (REFERENCE_PLUGINS / "portmap").exists(), reason="needs containernetworking-plugins"),
]


def pod_addr(n: int) -> str:
    return f"10.60.{n // 250}.{n % 250 + 2}"


def portmap_conf(backend: str | None, n: int, port: int, data_dir: Path) -> bytes:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "benchpm",
        "type": "portmap",
        "dataDir": str(data_dir),
        "runtimeConfig": {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]},
        "prevResult": {
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
            "ips": [{"address": f"{pod_addr(n)}/16", "interface": 0}],
        },
    }
    if backend:
        conf["backend"] = backend
    return json.dumps(conf).encode()


FILL_NFT = """
import sys
from cni._native import PortmapRules
count = int(sys.argv[1])
for n in range(count):
    addr = f"10.60.{n // 250}.{n % 250 + 2}/16"
    PortmapRules("benchpm", f"fill{n}", "eth0", addr, [(20000 + n, 80, "tcp", None)]).nft_add()
"""


def fill_iptables(node: str, count: int) -> None:
    """`count` attachments in the reference's layout, in one iptables-restore."""
    from cni._native import PortmapRules

    lines: list[str] = []
    for n in range(count):
        rules = PortmapRules("benchpm", f"fill{n}", "eth0", f"{pod_addr(n)}/16", [(20000 + n, 80, "tcp", None)])
        script = rules.iptables_add("").splitlines()[1:-1]  # without *nat and COMMIT
        own = [line for line in script if "CNI-DN-" in line or n == 0]
        lines += own
    decl = [line for line in lines if line.startswith(":")]
    body = [line for line in lines if not line.startswith(":")]
    text = "*nat\n" + "\n".join(decl + body) + "\nCOMMIT\n"
    subprocess.run(["ip", "netns", "exec", node, "iptables-restore", "--noflush"], input=text.encode(), check=True)


@pytest.mark.parametrize("verb", ["add", "del"])
@pytest.mark.parametrize("existing", [10, 1000, 10000])
@pytest.mark.parametrize("implementation", ["ours-nftables", "ours-iptables", "reference-iptables"])
def test_portmap_process(
    benchmark: BenchmarkFixture,
    tmp_path: Path,
    make_netns: Callable[[str], str],
    our_bin: Path,
    implementation: str,
    existing: int,
    verb: str,
) -> None:
    benchmark.group = f"portmap {verb.upper()} as a process, {existing} mappings"
    node, pod = make_netns("pmbench"), make_netns("pmbpod")
    if implementation == "ours-nftables":
        subprocess.run(["ip", "netns", "exec", node, sys.executable, "-c", FILL_NFT, str(existing)], check=True)
    else:
        fill_iptables(node, existing)
    backend = implementation.removeprefix("ours-") if implementation.startswith("ours") else None
    plugin = str((REFERENCE_PLUGINS if implementation.startswith("reference") else our_bin) / "portmap")
    stdin = portmap_conf(backend, existing, 30000, tmp_path / "records")

    def run(command: str) -> None:
        env = {
            "CNI_COMMAND": command.upper(),
            "CNI_CONTAINERID": "bench",
            "CNI_NETNS": f"/var/run/netns/{pod}",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(Path(plugin).parent),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        out = subprocess.run(["ip", "netns", "exec", node, plugin], env=env, input=stdin, capture_output=True)
        assert out.returncode == 0, out.stdout.decode()

    undo = "del" if verb == "add" else "add"
    # The iptables runs at 10,000 mappings take seconds each; nftables gets the full count.
    rounds = 5 if existing == 10000 and implementation != "ours-nftables" else 15
    benchmark.pedantic(run, args=(verb,), setup=lambda: run(undo), rounds=rounds, warmup_rounds=1)


def chain_conflist(backend: str | None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "benchchain",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "benchbr1",
                "isGateway": True,
                "ipMasq": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.71.0.0/16"}]], "dataDir": "@IPAM@"},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
        ],
    }
    if backend:
        conf["plugins"][0]["ipMasqBackend"] = backend
        conf["plugins"][1]["backend"] = backend
    return conf


@pytest.mark.parametrize("verb", ["add", "del"])
@pytest.mark.parametrize("pods", [20, 100, 300])
@pytest.mark.parametrize("implementation", ["ours-iptables", "ours-nftables", "reference"])
def test_chain_via_libcni(
    benchmark: BenchmarkFixture,
    tmp_path: Path,
    make_netns: Callable[[str], str],
    our_bin: Path,
    go_driver: Path,
    implementation: str,
    pods: int,
    verb: str,
) -> None:
    benchmark.group = f"bridge(ipMasq)+host-local, portmap, tuning {verb.upper()} via libcni, {pods} pods"
    plugins = REFERENCE_PLUGINS if implementation == "reference" else our_bin
    backend = implementation.removeprefix("ours-") if implementation.startswith("ours") else None
    world = World("chain", tmp_path, make_netns, chain_conflist(backend), plugins, pods=pods + 1)

    def caps(n: int) -> dict[str, Any]:
        return {"portMappings": [{"hostPort": 20000 + n, "containerPort": 80, "protocol": "tcp"}]}

    for n in range(pods):
        ok(world.go(go_driver, "add", n, f"pod{n}", cap_args=caps(n)))
    last = pods

    def step(which: str) -> None:
        ok(world.go(go_driver, which, last, "bench", cap_args=caps(last)))

    undo = "del" if verb == "add" else "add"
    benchmark.pedantic(step, args=(verb,), setup=lambda: step(undo), rounds=10, warmup_rounds=1)
