# SPDX-License-Identifier: Apache-2.0
"""`cni demo`: attach three pods to a bridge network in a throwaway node namespace.

Everything happens in namespaces the demo creates: a "node" namespace where the bridge and
the IPAM store live, and one namespace per pod. The runtime library and the plugins run
inside the node namespace (`ip netns exec`), so the machine's own network is never
touched. Pings go only between those namespaces. The pods are attached and detached once
through the shims without an agent (each execs its Python launcher), then again with a
`cni agent` running in a namespace of its own, and each pod's ADD and DEL times are shown
side by side. On exit, or on Ctrl-C, everything is removed; `--keep` leaves the pods for
exploring and prints how to clean up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from cni._native import dumps

PODS = 3
SUBNET = "10.123.0.0/24"
GATEWAY = "10.123.0.1"


def network_config(data_dir: str) -> dict[str, Any]:
    """The embedded default network: bridge + host-local, with loopback chained."""
    return {
        "cniVersion": "1.1.0",
        "name": "cni-demo",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni-demo0",
                "isGateway": True,
                "isDefaultGateway": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET, "gateway": GATEWAY}]],
                    "dataDir": data_dir,
                },
            },
            {"type": "loopback"},
        ],
    }


def _run(argv: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


class Demo:
    """The namespaces and files of one demo run."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.node = f"cni-demo-node-{tag}"
        self.pods = [f"cni-demo-pod{n}-{tag}" for n in range(1, PODS + 1)]
        self.root = tempfile.mkdtemp(prefix="cni-demo-")
        self.agent_ns = f"cni-demo-agent-{tag}"
        self.socket = os.path.join(self.root, "agent", "agent.sock")
        self.agent: subprocess.Popen[bytes] | None = None
        self.made: list[str] = []

    def setup(self) -> None:
        from cni.install import install

        for name in [self.node, *self.pods, self.agent_ns]:
            _run(["ip", "netns", "add", name])
            self.made.append(name)
        for name in self.pods:
            _run(["ip", "-n", name, "link", "set", "lo", "up"])
        install(os.path.join(self.root, "bin"), agent_socket=self.socket)
        os.makedirs(os.path.join(self.root, "net.d"))
        with open(os.path.join(self.root, "net.d", "10-cni-demo.conflist"), "w") as f:
            f.write(dumps(network_config(os.path.join(self.root, "ipam")), 2))

    def in_node(self, verb: str) -> list[dict[str, Any]]:
        """Attaches or detaches every pod, from inside the node namespace."""
        out = _run(
            ["ip", "netns", "exec", self.node, sys.executable, "-m", "cni.demo", verb, self.root, *self.pods],
            check=False,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{verb} failed: {out.stderr.strip() or out.stdout.strip()}")
        reports: list[dict[str, Any]] = json.loads(out.stdout)
        return reports

    def start_agent(self) -> None:
        """`cni agent` in a namespace of its own, for the demo's shims; stopped by pid."""
        os.makedirs(os.path.dirname(self.socket), mode=0o700)
        log = os.path.join(self.root, "agent.log")
        with open(log, "wb") as out:
            self.agent = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.agent_ns,
                    sys.executable,
                    "-m",
                    "cni.cli",
                    "agent",
                    "--socket",
                    self.socket,
                ],
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 30
        while b" serving " not in open(log, "rb").read():  # noqa: SIM115 - read in one go
            if self.agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not start: {open(log).read().strip()}")  # noqa: SIM115
            time.sleep(0.05)

    def stop_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait(timeout=10)
        self.agent = None

    def cleanup(self) -> None:
        self.stop_agent()
        for name in reversed(self.made):
            _run(["ip", "netns", "del", name], check=False)
        self.made.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def cleanup_commands(self) -> list[str]:
        names = [*self.pods, self.node, self.agent_ns]
        return [f"ip netns del {name}" for name in names] + [f"rm -rf {self.root}"]


def _ping(pod: str, target: str) -> bool:
    out = _run(["ip", "netns", "exec", pod, "ping", "-c", "1", "-W", "1", target], check=False, timeout=10)
    return out.returncode == 0


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _attach_show_detach(demo: Demo, keep: bool) -> bool:
    """The demo proper; returns whether every ping passed."""
    demo.setup()
    print(f"node namespace {demo.node}; pods {', '.join(demo.pods)}")
    # Once without the agent (each shim execs its Python launcher), once with it.
    cold_add = {r["pod"]: r["ms"] for r in demo.in_node("attach")}
    cold_del = {r["pod"]: r["ms"] for r in demo.in_node("detach")}
    demo.start_agent()
    print(f"warm agent in namespace {demo.agent_ns} (pid {demo.agent.pid if demo.agent else '-'})\n")
    rows = [["pod", "interface", "address", "gateway", "routes", "ADD ms: launcher", "agent"]]
    addresses = {}
    for report in demo.in_node("attach"):
        pod, result = report["pod"], report["result"]
        ip = result["ips"][0]
        addresses[pod] = ip["address"].split("/")[0]
        routes = ", ".join(f"{r['dst']} via {r.get('gw', '-')}" for r in result.get("routes", []))
        iface = result["interfaces"][ip.get("interface", 0)]["name"]
        row = [pod, iface, ip["address"], ip.get("gateway", ""), routes, f"{cold_add[pod]:.0f}", f"{report['ms']:.0f}"]
        rows.append(row)
    print(_table(rows))
    print("\nconnectivity (ping -c 1 -W 1):")
    ok = True
    checks = [(a, b) for a in demo.pods for b in demo.pods if a != b] + [(p, "gateway") for p in demo.pods]
    for source, target in checks:
        address = GATEWAY if target == "gateway" else addresses[target]
        passed = _ping(source, address)
        ok &= passed
        print(f"  {source} -> {target} ({address}): {'ok' if passed else 'FAILED'}")
    if keep:
        print(
            "\n--keep: the pods stay (the agent is stopped; the shims run the launchers). Explore with e.g.\n"
            f"  ip netns exec {demo.pods[0]} ip addr\n  ip netns exec {demo.pods[0]} ping {GATEWAY}\n"
            "Clean up with:\n  " + "\n  ".join(demo.cleanup_commands())
        )
        demo.stop_agent()
        demo.made.clear()
        return ok
    warm_del = {r["pod"]: r["ms"] for r in demo.in_node("detach")}
    print("\ndetached all pods; DEL ms (launcher / agent):")
    for pod in demo.pods:
        print(f"  {pod}: {cold_del[pod]:.0f} / {warm_del[pod]:.0f}")
    return ok


def run(keep: bool = False) -> int:
    """Runs the demo; returns the exit status."""
    if os.geteuid() != 0:
        print("cni demo needs root: it creates network namespaces", file=sys.stderr)
        return 1
    demo = Demo()
    interrupted = False

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        ok = _attach_show_detach(demo, keep)
    except RuntimeError as err:
        print(f"cni demo: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    else:
        return 0 if ok else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if demo.made:
            demo.cleanup()
            if not interrupted:
                print("removed the demo's namespaces and files")


def _attach_or_detach(verb: str, root: str, pods: list[str]) -> None:
    """Inside the node namespace: ADD or DEL each pod, timing the plugin chain."""
    from cni.runtime import CNIConfig, RuntimeConf, load_dir

    network = load_dir(os.path.join(root, "net.d")).get("cni-demo")
    runtime = CNIConfig([os.path.join(root, "bin")], cache_dir=os.path.join(root, "cache"))
    reports = []
    for pod in pods:
        rt = RuntimeConf(container_id=pod, netns=f"/var/run/netns/{pod}", ifname="eth0")
        started = time.monotonic()
        result: Any = None
        if verb == "attach":
            result = runtime.add_network_list(network, rt)
        else:
            runtime.del_network_list(network, rt)
        reports.append({"pod": pod, "ms": (time.monotonic() - started) * 1000, "result": result})
    print(dumps(reports))


if __name__ == "__main__":
    _attach_or_detach(sys.argv[1], sys.argv[2], sys.argv[3:])
