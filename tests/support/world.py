# SPDX-License-Identifier: Apache-2.0
"""Throwaway "node" worlds for integration tests: a node namespace, pod namespaces, a
conflist, a cache and an IPAM directory; our runtime (or libcni) runs inside the node.

Kernel state is read with pyroute2 and iptables-save, independent of our own netlink code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class World:
    def __init__(
        self,
        label: str,
        tmp: Path,
        make_netns: Callable[[str], str],
        conflist: dict[str, Any],
        cni_path: Path,
        pods: int = 1,
    ) -> None:
        self.node = make_netns(f"{label}node")
        self.pods = [make_netns(f"{label}pod{n}") for n in range(pods)]
        self.root = tmp / label
        self.conf_dir = self.root / "net.d"
        self.conf_dir.mkdir(parents=True)
        self.cache = self.root / "cache"
        self.ipam = self.root / "ipam"
        self.cni_path = cni_path
        self.network = conflist["name"]
        text = json.dumps(conflist).replace("@IPAM@", str(self.ipam))
        self.conf_file = self.conf_dir / "10-net.conflist"
        self.conf_file.write_text(text)

    def pod_path(self, pod: int = 0) -> str:
        return f"/var/run/netns/{self.pods[pod]}"

    def in_node(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", self.node, *argv],
            capture_output=True,
            check=False,
            timeout=120,
            env={**os.environ, **(env or {})},
        )

    def cni(
        self, verb: str, pod: int = 0, cid: str = "c1", *extra: str, cap_args: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Our runtime (the `cni` command) inside the node namespace."""
        args = [sys.executable, "-m", "cni.cli", verb, self.network]
        if verb in ("add", "check", "del"):
            args += [self.pod_path(pod), "--container-id", cid, "--cap-args", json.dumps(cap_args or {})]
        args += [
            "--conf-dir",
            str(self.conf_dir),
            "--cni-path",
            str(self.cni_path),
            "--cache-dir",
            str(self.cache),
            "--json",
            *extra,
        ]
        return self.in_node(args)

    def go(
        self, driver: Path, verb: str, pod: int = 0, cid: str = "c1", cap_args: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Debian's libcni (through the Go driver) inside the node namespace."""
        return self.in_node(
            [str(driver), verb, str(self.conf_file), self.pod_path(pod), cid, "eth0", str(self.cache)],
            env={"CNI_PATH": str(self.cni_path), "CAP_ARGS": json.dumps(cap_args or {})},
        )

    def plugin_stdin(self, index: int = 0) -> bytes:
        """What the runtime gives plugin `index` on stdin (name and cniVersion injected)."""
        conf = json.loads(self.conf_file.read_text())
        return json.dumps({**conf["plugins"][index], "name": conf["name"], "cniVersion": conf["cniVersion"]}).encode()

    def snapshot(self, infra: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
        """What the shared observer sees of the node (with store and cache) and of every pod:
        a failed operation must leave it unchanged. `infra` names node links to leave out
        (a bridge, which a refused ADD may have made and no DEL removes)."""
        from tests.support.observe import kernel, observe

        return {
            "node": observe(self.node, infra=infra, store=self.ipam / self.network, cache=self.cache),
            "pods": [kernel(pod) for pod in self.pods],
        }

    def reservations(self) -> list[str]:
        directory = self.ipam / self.network
        if not directory.exists():
            return []
        return sorted(f for f in os.listdir(directory) if not f.startswith(("lock", "last_reserved_ip", ".")))


def succeeded(out: subprocess.CompletedProcess[bytes]) -> None:
    """A plugin verb that prints nothing on success (DEL, CHECK, GC, STATUS) succeeded."""
    assert out.returncode == 0, (out.stdout.decode(), out.stderr.decode())
    assert out.stdout.strip() == b"", out.stdout


def failed(out: subprocess.CompletedProcess[bytes], code: int) -> str:
    """A plugin failed with the spec's error object of `code`; its message."""
    assert out.returncode == 1, (out.stdout.decode(), out.stderr.decode())
    error = json.loads(out.stdout)
    assert error["code"] == code, error
    return str(error["msg"])


def ok(out: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert out.returncode == 0, (out.stdout.decode(), out.stderr.decode())
    data: dict[str, Any] = json.loads(out.stdout)
    return data


MAC = re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b")


def normalise_result(result: dict[str, Any]) -> dict[str, Any]:
    """MACs, random veth names and pod paths replaced; Go's empty `dns` dropped."""
    text = MAC.sub("<mac>", json.dumps(result, sort_keys=True))
    text = re.sub(r'"veth[0-9a-f]+"', '"<veth>"', text)
    text = re.sub(r"/var/run/netns/cnit-[a-z0-9]+-[0-9a-f]+", "<pod>", text)
    data: dict[str, Any] = json.loads(text)
    if data.get("dns") == {}:
        del data["dns"]
    return data


def pod_state(netns: str, ifname: str = "eth0") -> dict[str, Any]:
    """Links, the interface's IPv4 addresses and the main table's IPv4 routes, via pyroute2."""
    from pyroute2 import NetNS

    with NetNS(netns) as ns:
        links = {link.get_attr("IFLA_IFNAME"): link for link in ns.get_links()}
        iface = links.get(ifname)
        state: dict[str, Any] = {"links": sorted(links), "lo_up": bool(links["lo"]["flags"] & 1)}
        if iface is None:
            return state
        state["addrs"] = sorted(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ns.get_addr(index=iface["index"])
            if a["family"] == 2
        )
        state["routes"] = sorted(
            (r.get_attr("RTA_DST") or "default", r["dst_len"], r.get_attr("RTA_GATEWAY") or "")
            for r in ns.get_routes(family=2, table=254)
        )
        state["up"] = bool(iface["flags"] & 1)
        return state


def node_state(node: str, bridge: str) -> dict[str, Any]:
    """The bridge, its addresses, its ports (name prefixes) and the iptables rules."""
    from pyroute2 import NetNS

    with NetNS(node) as ns:
        found = [link for link in ns.get_links() if link.get_attr("IFLA_IFNAME") == bridge]
        addrs: list[str] = []
        ports: list[str] = []
        if found:
            index = found[0]["index"]
            addrs = sorted(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ns.get_addr(index=index) if a["family"] == 2
            )
            ports = sorted(
                link.get_attr("IFLA_IFNAME")[:4] for link in ns.get_links() if link.get_attr("IFLA_MASTER") == index
            )
    rules = subprocess.run(["ip", "netns", "exec", node, "iptables-save"], capture_output=True, check=False)
    kept = sorted(
        re.sub(r"\[\d+:\d+\]", "", line)
        for line in rules.stdout.decode().splitlines()
        if line and not line.startswith("#")
    )
    return {"bridge": bool(found), "bridge_addrs": addrs, "ports": ports, "iptables": kept}


def veth_pair(netns: str, name: str, peer: str) -> str:
    """A veth pair in `netns` (a master or device for a plugin to use), `name` up; its MAC."""
    subprocess.run(["ip", "-n", netns, "link", "add", name, "type", "veth", "peer", "name", peer], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", name, "up"], check=True)
    from pyroute2 import NetNS

    with NetNS(netns) as ns:
        return str(ns.get_links(ifname=name)[0].get_attr("IFLA_ADDRESS"))


def link_details(netns: str, ifname: str = "eth0") -> str:
    """`ip -d link show`: the kind-specific details (modes, queues, masters) in one text."""
    return subprocess.run(
        ["ip", "-n", netns, "-d", "link", "show", ifname], capture_output=True, text=True, check=True
    ).stdout


def sysctl(netns: str, key: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", netns, "cat", f"/proc/sys/{key}"], capture_output=True, check=True)
    return out.stdout.decode().strip()


def kernel_supports(*link_args: str) -> bool:
    """Whether `ip link add probe0 <link_args>` works here (in a throwaway namespace)."""
    if os.geteuid() != 0:
        return False
    name = f"cnit-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode != 0:
        return False
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "up0", "type", "veth", "peer", "name", "up1"],
            capture_output=True,
            check=False,
        )
        made = subprocess.run(["ip", "-n", name, "link", "add", "probe0", *link_args], capture_output=True, check=False)
        return made.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
