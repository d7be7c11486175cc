# SPDX-License-Identifier: Apache-2.0
"""Faults on the warm path: the shim killed mid-ADD, the agent killed and restarted under
load. Nothing may leak and no address may be handed out twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cni.install import install
from tests.support.agent import SERVING, Agent, busy_workers, idle_workers, start_agent
from tests.support.observe import files, kernel, observe
from tests.support.world import World

pytestmark = pytest.mark.netns


def _bridge_conflist() -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "warmkill",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "wkbr0",
                "isGateway": True,
                "ipam": {"type": "host-local", "subnet": "10.73.0.0/24", "dataDir": "@IPAM@"},
            }
        ],
    }


def _host_local_conf(network: str, subnet: str, store: Path) -> bytes:
    ipam = {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(store)}
    return json.dumps({"cniVersion": "1.0.0", "name": network, "type": "host-local", "ipam": ipam}).encode()


def test_a_shim_sigkilled_during_add_then_del_leaves_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], agent_bin: Path
) -> None:
    agent = SERVING[agent_bin]
    world = World("wk", tmp_path, make_netns, _bridge_conflist(), agent_bin)
    stdin = world.plugin_stdin()
    env = {"CNI_CONTAINERID": "wk", "CNI_NETNS": world.pod_path(), "CNI_IFNAME": "eth0", "CNI_PATH": str(agent_bin)}

    def run(command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", world.node, str(agent_bin / "bridge")],
            input=stdin,
            env={**env, "CNI_COMMAND": command, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            capture_output=True,
            timeout=60,
            check=False,
        )

    # The kill must land inside the ADD, so its delay is drawn from the time a whole ADD takes
    # on this machine now (the middle of three): a fixed 8 ms window missed half the time on
    # a quick run, and a busy machine stretches one ADD more than another.
    durations = []
    for _ in range(3):
        started = time.monotonic()
        assert run("ADD").returncode == 0
        durations.append(time.monotonic() - started)
        assert run("DEL").returncode == 0
    window = 0.8 * sorted(durations)[1]
    before = (observe(world.node, infra={"wkbr0"}, store=world.ipam / world.network), kernel(world.pods[0]))
    rng = random.Random(11)
    killed = 0
    # Bounded: at most 60 attempts, stopping once 10 kills have landed mid-ADD.
    for _ in range(60):
        if killed == 10:
            break
        idle_workers(agent)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", world.node, str(agent_bin / "bridge")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**env, "CNI_COMMAND": "ADD", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
        time.sleep(rng.uniform(0.0, window))
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait(timeout=30) == -signal.SIGKILL
        # The worker dies with its shim: the pool is back at rest, nothing running.
        idle_workers(agent)
        delete = run("DEL")
        assert delete.returncode == 0, delete.stdout
        assert (observe(world.node, infra={"wkbr0"}, store=world.ipam / world.network), kernel(world.pods[0])) == before
    assert killed == 10


def test_the_agent_killed_and_restarted_under_four_streams(tmp_path: Path, make_netns: Callable[[str], str]) -> None:
    """Four streams of 50 ADD/DEL pairs each through the shims while the agent is SIGKILLed
    and restarted: every operation answers (a result or a spec error), no address is held
    twice at once, and the store ends empty."""
    node, pod, agent_ns = make_netns("wsnode"), make_netns("wspod"), make_netns("wsagent")
    shims = tmp_path / "bin"
    sock = tmp_path / "agent" / "agent.sock"
    install(str(shims), agent_socket=str(sock))
    store = tmp_path / "ipam"
    conf = _host_local_conf("warmstream", "10.74.0.0/24", store)
    agents: list[Agent] = [start_agent(sock, netns=agent_ns)]
    held: dict[str, str] = {}
    lock = threading.Lock()
    problems: list[str] = []
    errors: list[str] = []
    answered = [0]
    done = threading.Event()

    def call(command: str, cid: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ip", "netns", "exec", node, str(shims / "host-local")],
            input=conf,
            env={
                "CNI_COMMAND": command,
                "CNI_CONTAINERID": cid,
                "CNI_NETNS": f"/var/run/netns/{pod}",
                "CNI_IFNAME": "eth0",
                "CNI_PATH": str(shims),
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            },
            capture_output=True,
            timeout=60,
            check=False,
        )

    def stream(n: int) -> None:
        for i in range(50):
            cid = f"s{n}-{i}-{uuid.uuid4().hex[:4]}"
            add = call("ADD", cid)
            if add.returncode != 0:
                if "code" not in json.loads(add.stdout or b"{}"):
                    problems.append(f"ADD {cid}: {add.stdout!r} {add.stderr!r}")
                errors.append(add.stdout.decode())
                continue
            address = json.loads(add.stdout)["ips"][0]["address"]
            with lock:
                if address in held:
                    problems.append(f"{address} given to {cid} while {held[address]} holds it")
                held[address] = cid
            time.sleep(random.uniform(0, 0.01))  # the pod lives a little
            with lock:
                del held[address]  # from here on DEL may release it to another stream
            delete = call("DEL", cid)
            if delete.returncode != 0:
                problems.append(f"DEL {cid}: {delete.stdout!r}")
            with lock:
                answered[0] += 2

    def chaos() -> None:
        while not done.wait(0.3):
            agents[-1].stop(signal.SIGKILL)
            agents.append(start_agent(sock, netns=agent_ns))

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(4)]
    killer = threading.Thread(target=chaos)
    try:
        for t in threads:
            t.start()
        killer.start()
        for t in threads:
            t.join(timeout=600)
    finally:
        done.set()
        killer.join(timeout=60)
        for agent in agents:
            agent.stop(signal.SIGKILL)
    assert not problems, problems[:5]
    # Spec errors would be allowed; none happen: a request either ran in a worker that
    # outlived its agent, or its shim took the token back and ran the launcher.
    assert errors == []
    assert answered[0] == 400
    assert len(agents) >= 3  # the agent really was killed along the way
    assert files(store / "warmstream", skip=("lock", "last_reserved_ip.", ".cni-index/state")) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP, signal.SIGINT])
def test_a_shim_stopped_while_its_add_waits_takes_the_worker_with_it(
    tmp_path: Path, make_netns: Callable[[str], str], agent_bin: Path, sig: int
) -> None:
    """host-local's ADD waits for its store's lock, which the test holds. The shim is then
    SIGKILLed (the worker must die with it, as an exec'd plugin would: the pool is back at
    rest while the lock is still held) or sent SIGHUP or SIGINT (forwarded: the ADD ends as
    an exec'd one would, and the shim with the same signal). Nothing was reserved. The worker
    watches its connection without a thread."""
    import fcntl

    agent = SERVING[agent_bin]
    pod = make_netns("wlock")
    store = tmp_path / "ipam"
    (store / "locked").mkdir(parents=True)
    conf = _host_local_conf("locked", "10.75.0.0/24", store)
    with open(store / "locked" / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        idle_workers(agent)
        (tmp_path / "conf.json").write_bytes(conf)
        with open(tmp_path / "conf.json", "rb") as stdin:
            proc = subprocess.Popen(
                [str(agent_bin / "host-local")],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={
                    "CNI_COMMAND": "ADD",
                    "CNI_CONTAINERID": "locked",
                    "CNI_NETNS": f"/var/run/netns/{pod}",
                    "CNI_IFNAME": "eth0",
                    "CNI_PATH": str(agent_bin),
                },
            )
        # A worker has taken the request and waits for the lock.
        deadline = time.monotonic() + 10
        while not busy_workers(agent) and time.monotonic() < deadline:
            time.sleep(0.01)
        (worker,) = busy_workers(agent)
        time.sleep(0.1)  # well inside the ADD's wait
        # No watcher thread: the kernel signals the worker when the shim sends or hangs up.
        assert _threads(worker) == 1
        proc.send_signal(sig)
        proc.communicate(timeout=10)
        assert proc.returncode == -sig
        # Still holding the lock: the worker is gone anyway.
        idle_workers(agent)
    assert files(store / "locked", skip=("lock", ".cni-index")) == []


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
