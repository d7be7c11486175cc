# SPDX-License-Identifier: Apache-2.0
"""F1/F4 for the firewall plugins: portmap, firewall and bridge's ipMasq, SIGKILLed at each
nf_tables batch send (`sendto`), each spawn and each wait of an iptables tool (`clone3`,
`wait4`) and each record write (`rename`), then DEL with the same arguments: the ruleset is
back to what it was, byte for byte, and no record remains. As in test_f1, the kill points
are injected with strace, N = 1, 2, ... until an ADD runs to its end."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.netns.test_portmap import ruleset, stable
from tests.support.faults import kill_at_each_point, plugin_runner
from tests.support.observe import kernel, observe

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (fault injection)"),
]
MAX_POINTS = 80
PREV = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "cni0"}, {"name": "veth0"}, {"name": "eth0", "sandbox": "/var/run/netns/x"}],
    "ips": [{"address": "10.90.0.5/16", "interface": 2}, {"address": "fd90::5/64", "interface": 2}],
}


def chained(kind: str, backend: str, tmp: Path) -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "faultnet", "type": kind, "prevResult": PREV}
    if kind == "portmap":
        conf["runtimeConfig"] = {
            "portMappings": [
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                {"hostPort": 5353, "containerPort": 53, "protocol": "udp"},
            ]
        }
    conf["backend"] = backend
    conf["dataDir"] = str(tmp / "records" / kind)
    return conf


def bridge(backend: str, tmp: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "faultbr",
        "type": "bridge",
        "bridge": "fbr0",
        "isGateway": True,
        "ipMasq": True,
        "ipMasqBackend": backend,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.91.0.0/24"}]], "dataDir": str(tmp / "ipam")},
    }


CASES = [
    pytest.param(kind, backend, id=f"{kind}-{backend}")
    for kind in ("portmap", "firewall", "bridge")
    for backend in ("iptables", "nftables")
]


@pytest.mark.parametrize(("kind", "backend"), CASES)
def test_kill_at_each_point_then_del_restores_the_ruleset(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, kind: str, backend: str
) -> None:
    node, pod = make_netns("fnode"), make_netns("fpod")
    conf = bridge(backend, tmp_path) if kind == "bridge" else chained(kind, backend, tmp_path)
    stdin = json.dumps(conf).encode()
    env = {
        **os.environ,
        "CNI_CONTAINERID": "fault",
        "CNI_NETNS": f"/var/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
    }

    run = plugin_runner(node, our_bin / kind, stdin, env, our_bin)
    # A clean ADD and DEL first: the tables and base chains they leave are the baseline.
    assert run("ADD").returncode == 0, run("ADD").stdout
    assert run("DEL").returncode == 0
    before = stable(ruleset(node))
    store = tmp_path / "ipam" / "faultbr"
    before_all = (observe(node, infra={"fbr0"}, store=store), kernel(pod))
    syscalls = ("sendto", "rename") if backend == "nftables" else ("clone3", "wait4", "rename")

    def after(syscall: str, n: int) -> None:
        delete = run("DEL")
        assert delete.returncode == 0, (syscall, n, delete.stdout)
        assert stable(ruleset(node)) == before, f"leak after a kill at {syscall} #{n}"
        assert (observe(node, infra={"fbr0"}, store=store), kernel(pod)) == before_all, (syscall, n)
        for records in (tmp_path / "records", Path("/run/cni/ipmasq/faultbr")):
            assert not records.exists() or not list(records.rglob("*.json"))

    killed = kill_at_each_point(run, syscalls, after, MAX_POINTS)
    assert killed >= 2
