# SPDX-License-Identifier: Apache-2.0
"""Real traffic between test namespaces: small servers that answer each client with the
address they see it from, and a bounded client. Nothing here talks to an address outside
the namespaces a test made."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SERVER = r"""
import socket, sys
proto, port, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if len(sys.argv) > 4 else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
if proto == "tcp":
    s.listen(16)
print("ready", flush=True)
while True:
    if proto == "tcp":
        c, peer = s.accept()
        c.sendall((tag + peer[0]).encode())
        c.close()
    else:
        data, peer = s.recvfrom(100)
        s.sendto((tag + peer[0]).encode(), peer)
"""

_CLIENT = r"""
import socket, sys
proto, host, port, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if sport:
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(2)
try:
    if proto == "tcp":
        s.connect((host, port))
        print(s.recv(100).decode())
    else:
        s.sendto(b"hi", (host, port))
        print(s.recvfrom(100)[0].decode())
except OSError:
    print("")
"""


@contextmanager
def server(netns: str, port: int, proto: str = "tcp", v6: bool = False, tag: str = "") -> Iterator[None]:
    """A server in `netns` on `port` for the duration of the block (stopped by pid); it
    answers `<tag><the client address it sees>`."""
    argv = ["ip", "netns", "exec", netns, sys.executable, "-c", _SERVER, proto, str(port), tag]
    proc = subprocess.Popen([*argv, *(["6"] if v6 else [])], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def peer_seen(netns: str, host: str, port: int, proto: str = "tcp", sport: int = 0) -> str:
    """The address the server at host:port saw us from; "" when nothing answered in 2 s.
    `sport` fixes the client's source port (the same flow again)."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", _CLIENT, proto, host, str(port), str(sport)],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return out.stdout.decode().strip()


def wait_for(netns: str, host: str, port: int, proto: str = "tcp", tries: int = 5) -> str:
    """As :func:`peer_seen`, retried a few times (a new route or rule may need a moment)."""
    seen = ""
    for _ in range(tries):
        seen = peer_seen(netns, host, port, proto)
        if seen:
            return seen
        time.sleep(0.2)
    return seen


def wire_outside(
    node: str, outside: str, node_addr: str = "192.168.200.1", outside_addr: str = "192.168.200.2"
) -> None:
    """An "outside host" namespace on a /24 with the node, routing everything through it."""

    def run(*argv: str) -> None:
        subprocess.run(list(argv), check=True, capture_output=True)

    run("ip", "link", "add", "uplink0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", outside)
    run("ip", "-n", node, "addr", "add", f"{node_addr}/24", "dev", "uplink0")
    run("ip", "-n", node, "link", "set", "uplink0", "up")
    run("ip", "-n", outside, "addr", "add", f"{outside_addr}/24", "dev", "eth0")
    run("ip", "-n", outside, "link", "set", "eth0", "up")
    run("ip", "-n", outside, "route", "add", "default", "via", node_addr)
