# SPDX-License-Identifier: Apache-2.0
"""A DHCP lab for tests and benchmarks: Debian's dnsmasq in a server namespace on a node
bridge, `cni dhcp daemon` in the node namespace, each started here and stopped by pid;
every wait bounded. dnsmasq's T1 of 4 s and T2 of 8 s make renewals show within seconds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.world import World

BRIDGE = "dhbr0"
SERVER = "10.70.0.1"


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Lab:
    """The node (bridge, daemon), the server namespace (dnsmasq) and the test's files."""

    def __init__(self, tmp: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
        self.tmp = tmp
        self.socket = tmp / "dhcp.sock"
        self.state = tmp / "state"
        self.leases = tmp / "dnsmasq.leases"
        conflist = {
            "cniVersion": "1.0.0",
            "name": "dhnet",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "ipam": {"type": "dhcp", "daemonSocketPath": str(self.socket)},
                }
            ],
        }
        self.world = World("dh", tmp, make_netns, conflist, our_bin, pods=2)
        self.server = make_netns("dhsrv")
        node = self.world.node
        for command in (
            ["ip", "-n", node, "link", "add", BRIDGE, "type", "bridge"],
            ["ip", "-n", node, "link", "set", BRIDGE, "up"],
            ["ip", "-n", node, "link", "add", "dhsv", "type", "veth", "peer", "name", "srv0", "netns", self.server],
            ["ip", "-n", node, "link", "set", "dhsv", "master", BRIDGE, "up"],
            ["ip", "-n", self.server, "link", "set", "srv0", "up"],
            ["ip", "-n", self.server, "addr", "add", f"{SERVER}/24", "dev", "srv0"],
        ):
            subprocess.run(command, check=True)
        self.dnsmasq = self.start_server()
        self.daemon: subprocess.Popen[bytes] | None = None

    def start_server(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.server,
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=srv0",
                "--bind-interfaces",
                "--dhcp-range=10.70.0.50,10.70.0.99,255.255.255.0,2m",
                f"--dhcp-option=option:router,{SERVER}",
                "--dhcp-option=option:T1,4",
                "--dhcp-option=option:T2,8",
                f"--dhcp-leasefile={self.leases}",
                "--dhcp-authoritative",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def start_daemon(self) -> None:
        with (self.tmp / "daemon.log").open("a") as log:
            self.daemon = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.world.node,
                    sys.executable,
                    "-m",
                    "cni.cli",
                    "dhcp",
                    "daemon",
                    "--socket",
                    str(self.socket),
                    "--state-dir",
                    str(self.state),
                    "--timeout",
                    "5",
                ],
                stdout=log,
                stderr=log,
            )
        wait_for(self.socket.exists, 20, "the daemon's socket")

    def stop_daemon(self, sig: int = signal.SIGTERM) -> None:
        if self.daemon is not None:
            self.daemon.send_signal(sig)
            self.daemon.wait(timeout=20)
            self.daemon = None

    def close(self) -> None:
        self.stop_daemon(signal.SIGKILL)
        self.dnsmasq.kill()
        self.dnsmasq.wait(timeout=10)

    def leased(self) -> dict[str, int]:
        """dnsmasq's leases: address -> expiry."""
        if not self.leases.exists():
            return {}
        rows = [line.split() for line in self.leases.read_text().splitlines() if line.strip()]
        return {row[2]: int(row[0]) for row in rows}
