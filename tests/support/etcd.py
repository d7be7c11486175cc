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


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        name: directory / f"{name}.pem" for name in ("ca", "ca-key", "server", "server-key", "client", "client-key")
    }

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cni-test-ca",
        "-keyout",
        str(files["ca-key"]),
        "-out",
        str(files["ca"]),
    )
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        csr = directory / f"{name}.csr"
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(files[f"{name}-key"]),
            "-out",
            str(csr),
        )
        ext = directory / f"{name}.ext"
        ext.write_text(extra + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(files["ca"]),
            "-CAkey",
            str(files["ca-key"]),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(ext),
            "-out",
            str(files[name]),
        )
    return files


class Cluster:
    def __init__(self, tmp: Path, netns: str, members: int = 3, tls: dict[str, Path] | None = None) -> None:
        self.tmp, self.netns = tmp, netns
        self.names = [f"m{n}" for n in range(members)]
        scheme = "https" if tls else "http"
        self.endpoints = [f"{scheme}://127.0.0.1:{CLIENT_BASE + n}" for n in range(members)]
        self.tls = tls
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
                *self._tls_flags(),
            ]
            for n, name in enumerate(self.names)
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for name in self.names:
            self.start(name)
        self.wait_healthy()

    def _tls_flags(self) -> list[str]:
        if not self.tls:
            return []
        return [
            "--cert-file",
            str(self.tls["server"]),
            "--key-file",
            str(self.tls["server-key"]),
            "--trusted-ca-file",
            str(self.tls["ca"]),
            "--client-cert-auth",
        ]

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
            tls = {k: str(v) for k, v in (self.tls or {}).items()}
            out = run_in(self.netns, HEALTH, json.dumps(endpoints), json.dumps(tls), check=False)
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd did not become healthy: {out.stderr.decode()[-400:]}")
            time.sleep(0.2)


HEALTH = """
import json, sys
from cni.ipam.etcd import Etcd
tls = json.loads(sys.argv[2])
for endpoint in json.loads(sys.argv[1]):
    client = Etcd([endpoint], timeout=1, ca_file=tls.get("ca"), cert_file=tls.get("client"),
                  key_file=tls.get("client-key"))
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
