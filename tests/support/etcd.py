# SPDX-License-Identifier: Apache-2.0
"""A real etcd cluster for tests: Debian's etcd-server, three members (each with its own
data directory) on loopback ports of a network namespace of the test's, started here and
stopped by pid at the end. Clients run in that namespace too (`run_in`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

PEER_BASE, CLIENT_BASE = 23800, 23790


class Cluster:
    def __init__(self, tmp: Path, netns: str, members: int = 3) -> None:
        self.tmp, self.netns = tmp, netns
        self.names = [f"m{n}" for n in range(members)]
        self.endpoints = [f"http://127.0.0.1:{CLIENT_BASE + n}" for n in range(members)]
        initial = ",".join(f"{name}=http://127.0.0.1:{PEER_BASE + n}" for n, name in enumerate(self.names))
        self.commands = {
            name: [
                "ip",
                "netns",
                "exec",
                netns,
                shutil.which("etcd") or "etcd",
                "--name",
                name,
                "--data-dir",
                str(tmp / f"etcd-{name}"),
                "--listen-client-urls",
                self.endpoints[n],
                "--advertise-client-urls",
                self.endpoints[n],
                "--listen-peer-urls",
                f"http://127.0.0.1:{PEER_BASE + n}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{PEER_BASE + n}",
                "--initial-cluster",
                initial,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                f"cni-test-{netns}",
                "--log-level",
                "warn",
                "--heartbeat-interval",
                "50",
                "--election-timeout",
                "500",
            ]
            for n, name in enumerate(self.names)
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for name in self.names:
            self.start(name)
        self.wait_healthy()

    def start(self, name: str) -> None:
        with (self.tmp / f"etcd-{name}.log").open("a") as log:
            self.procs[name] = subprocess.Popen(self.commands[name], stdout=log, stderr=log)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.kill()
            proc.wait(timeout=20)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until a write through every running member succeeds."""
        deadline = time.monotonic() + timeout
        endpoints = [e for n, e in zip(self.names, self.endpoints, strict=True) if n in self.procs]
        while True:
            out = run_in(self.netns, HEALTH, json.dumps(endpoints), check=False)
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd did not become healthy: {out.stderr.decode()[-400:]}")
            time.sleep(0.2)


HEALTH = """
import json, sys
from cni.ipam.etcd import Etcd
for endpoint in json.loads(sys.argv[1]):
    client = Etcd([endpoint], timeout=1)
    client.put(b"/health", b"ok")
"""


def run_in(
    netns: str, script: str, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", script, *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert out.returncode == 0, out.stderr.decode()
    return out
