# SPDX-License-Identifier: Apache-2.0
"""The warm path end to end: shim and agent as a runtime meets them, and everything a
caller can throw at the agent's socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cni
from cni.install import install, write_units
from tests.support.agent import Agent, idle_workers, request_bytes, start_agent
from tests.support.env import cni_env
from tests.support.observe import iptables, kernel, nftables

pytestmark = pytest.mark.netns

VERSION_ENV = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "")}


@pytest.fixture
def agent_ns(make_netns: Callable[[str], str]) -> str:
    return make_netns("agent")


@pytest.fixture
def served(agent_ns: str) -> Iterator[tuple[Path, Agent]]:
    """Shims and the agent's socket under a directory anyone may enter (so that a test can
    open the socket up to another user), and a verbose agent for them."""
    base = Path(f"/tmp/cnit-warm-{uuid.uuid4().hex[:8]}")
    base.mkdir(mode=0o755)
    shims, sock = base / "bin", base / "agent" / "agent.sock"
    try:
        install(str(shims), agent_socket=str(sock))
        agent = start_agent(sock, netns=agent_ns, verbose=True)
        try:
            yield shims, agent
        finally:
            agent.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def version(shim: Path, *prefix: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*prefix, str(shim)], env=VERSION_ENV, capture_output=True, timeout=30, check=False)


def served_lines(agent: Agent) -> list[str]:
    return [line for line in agent.log().splitlines() if ": served " in line]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_without_an_agent_the_shim_execs_the_launcher(tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    install(str(shims), agent_socket=str(tmp_path / "nobody-listens.sock"))
    through_shim = version(shims / "host-local")
    direct = version(shims / ".cni-launchers" / "host-local")
    assert through_shim.returncode == direct.returncode == 0
    assert through_shim.stdout == direct.stdout
    assert json.loads(through_shim.stdout)["supportedVersions"][-1] == "1.1.0"


def test_the_agent_serves_and_delegation_stays_in_process(
    served: tuple[Path, Agent], make_netns: Callable[[str], str], tmp_path: Path
) -> None:
    shims, agent = served
    assert version(shims / "bridge").returncode == 0
    assert wait_for(lambda: any("bridge VERSION" in line for line in served_lines(agent)))
    pod = make_netns("pod")
    conf = {
        "cniVersion": "1.0.0",
        "name": "warm",
        "type": "bridge",
        "bridge": "warmbr0",
        "ipam": {"type": "host-local", "subnet": "10.71.0.0/24", "dataDir": str(tmp_path / "ipam")},
    }
    node = make_netns("node")
    env = cni_env("ADD", netns=f"/var/run/netns/{pod}", path=shims, container_id="warm1")
    add = subprocess.run(
        ["ip", "netns", "exec", node, str(shims / "bridge")],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert add.returncode == 0, add.stdout + add.stderr
    assert json.loads(add.stdout)["ips"][0]["address"] == "10.71.0.2/24"
    assert wait_for(lambda: any("bridge ADD" in line for line in served_lines(agent)))
    # host-local, a shim in CNI_PATH too, ran inside bridge's worker, not as a second request.
    assert not any("host-local" in line for line in served_lines(agent))
    assert "warmbr0" in kernel(node)["links"]


def test_nothing_lands_in_the_agents_namespace(
    served: tuple[Path, Agent], agent_ns: str, make_netns: Callable[[str], str], tmp_path: Path
) -> None:
    """The agent serves from its own namespace; a chain of bridge (with ipMasq), portmap and
    firewall run from a node namespace changes the node and the pod, nothing of the agent's."""
    shims, agent = served
    before = {**kernel(agent_ns), "nftables": nftables(agent_ns), "iptables": iptables(agent_ns)}
    node, pod = make_netns("node"), make_netns("pod")
    conflist = {
        "cniVersion": "1.0.0",
        "name": "safety",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "safebr0",
                "isGateway": True,
                "ipMasq": True,
                "ipam": {"type": "host-local", "subnet": "10.72.0.0/24", "dataDir": str(tmp_path / "ipam")},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
        ],
    }
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "10-safety.conflist").write_text(json.dumps(conflist))
    add = subprocess.run(
        [
            "ip", "netns", "exec", node, sys.executable, "-m", "cni.cli", "add", "safety", f"/var/run/netns/{pod}",
            "--conf-dir", str(conf_dir), "--cni-path", str(shims), "--cache-dir", str(tmp_path / "cache"),
            "--cap-args", json.dumps({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert add.returncode == 0, add.stdout + add.stderr
    assert sum("served" in line for line in served_lines(agent)) >= 3
    node_state = kernel(node)
    assert "safebr0" in node_state["links"]
    assert any("10.72.0.1/24" in a for a in node_state["addresses"])
    assert nftables(node) or iptables(node)
    assert any("10.72.0." in a for a in kernel(pod)["addresses"])
    after = {**kernel(agent_ns), "nftables": nftables(agent_ns), "iptables": iptables(agent_ns)}
    assert after == before


def test_a_non_root_caller_is_not_served(served: tuple[Path, Agent]) -> None:
    shims, agent = served
    nobody = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
    # The socket is 0600 in a 0700 directory: nobody cannot even connect, and the shim
    # execs the launcher as that user.
    direct = version(shims / "host-local", *nobody)
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["cniVersion"] == "1.1.0"
    # Opened up, the socket reaches the agent, whose own check refuses the caller.
    os.chmod(agent.socket.parent, 0o755)
    os.chmod(agent.socket, 0o666)
    opened = version(shims / "host-local", *nobody)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == direct.stdout
    assert wait_for(lambda: "runs as uid 65534: only root" in agent.log())
    assert not any("host-local" in line for line in served_lines(agent))


def test_a_caller_with_fewer_capabilities_is_not_served(served: tuple[Path, Agent]) -> None:
    shims, agent = served
    weaker = ("setpriv", "--inh-caps=-all", "--bounding-set=-net_admin")
    out = version(shims / "loopback", *weaker)
    assert out.returncode == 0, out.stderr
    assert wait_for(lambda: "lacks capabilities" in agent.log())
    assert not any("loopback" in line for line in served_lines(agent))


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _raw(agent: Agent) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(str(agent.socket))
    return conn


def _answer(conn: socket.socket) -> tuple[int, int] | None:
    data = b""
    while len(data) < 8:
        chunk = conn.recv(8 - len(data))
        if not chunk:
            return None
        data += chunk
    kind, value = struct.unpack("<Ii", data)
    return kind, value


def _fds(count: int) -> list[int]:
    return [os.open("/dev/null", os.O_RDONLY) for _ in range(count)]


def test_garbage_truncation_and_hangups_leave_the_agent_serving(served: tuple[Path, Agent]) -> None:
    shims, agent = served
    assert version(shims / "loopback").returncode == 0
    wait_for(lambda: len(agent.workers()) == agent.pool)
    pool = agent.pool_process()
    assert pool is not None
    fds_before = (_fd_count(agent.pid), _fd_count(pool))
    refused = (2, 1)
    good = request_bytes("loopback")
    cases: list[tuple[str, bytes, int, tuple[int, int] | None]] = [
        ("garbage", b"GET / HTTP/1.1\r\n\r\n", 7, refused),
        ("no descriptors", good, 0, refused),
        ("too few descriptors", good, 3, refused),
        ("too many descriptors", good, 8, refused),
        ("truncated body", good[:-3], 7, refused),
        ("oversized", good[:8] + struct.pack("<I", (1 << 20) + 1) + good[12:], 7, refused),
        ("other protocol", good[:4] + struct.pack("<H", 9) + good[6:], 7, (2, 2)),
        ("other version", request_bytes("loopback", version="0.0.1"), 7, (2, 2)),
        ("unknown plugin", request_bytes("no-such-plugin"), 7, (2, 3)),
        ("empty", b"", 0, None),
    ]
    for name, data, nfds, expected in cases:
        conn = _raw(agent)
        sent = _fds(nfds)
        try:
            if data:
                socket.send_fds(conn, [data], sent) if sent else conn.sendall(data)
            if name in ("truncated body", "empty"):
                conn.shutdown(socket.SHUT_WR)
            assert _answer(conn) == expected, name
        finally:
            conn.close()
            for fd in sent:
                os.close(fd)
    # Hang-ups at every stage: before sending, inside the header, after the header.
    for cut in (0, 5, 12, 40):
        conn = _raw(agent)
        conn.sendall(good[:cut])
        conn.close()
    assert agent.proc.poll() is None
    assert version(shims / "loopback").returncode == 0
    assert wait_for(lambda: len(agent.workers()) == agent.pool)
    assert agent.pool_process() == pool
    assert (_fd_count(agent.pid), _fd_count(pool)) == fds_before
    assert "Traceback" not in agent.log()


def _loopback_conf() -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}).encode()


def test_a_shim_killed_before_its_worker_starts_runs_nothing(served: tuple[Path, Agent]) -> None:
    """A connection whose token was already taken (the shim fell back): the worker must not
    run it."""
    _, agent = served
    conn = _raw(agent)
    token_r, token_w = os.pipe2(os.O_NONBLOCK)
    os.close(token_w)  # an empty pipe: the token is gone
    namespaces = [os.open(f"/proc/self/ns/{kind}", os.O_RDONLY) for kind in ("net", "mnt")]
    fds = [*_fds(3), *namespaces, os.open(".", os.O_PATH | os.O_DIRECTORY), token_r]
    try:
        socket.send_fds(conn, [request_bytes("loopback", env=[b"CNI_COMMAND=VERSION"])], fds)
        assert _answer(conn) is None  # hung up without running or answering
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)
    assert wait_for(lambda: "gave up waiting" in agent.log())
    assert not served_lines(agent)


def test_signals_are_forwarded_and_del_finishes(served: tuple[Path, Agent], make_netns: Callable[[str], str]) -> None:
    """SIGTERM to a shim: a DEL ignores it and completes (as an exec'd plugin's DEL does)."""
    shims, _ = served
    for delay in (0.0, 0.002, 0.005, 0.01, 0.02):
        pod = make_netns("sig")
        netns = f"/var/run/netns/{pod}"
        add = subprocess.run(
            [str(shims / "loopback")],
            input=_loopback_conf(),
            env=cni_env("ADD", netns=netns, path=shims),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert add.returncode == 0, add.stdout
        conf = shims.parent / "loopback.json"
        conf.write_bytes(_loopback_conf())
        with open(conf, "rb") as stdin:
            proc = subprocess.Popen(
                [str(shims / "loopback")],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=cni_env("DEL", netns=netns, path=shims),
            )
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        # The DEL finished: the signal was forwarded, and DEL ignores it. Only a signal that
        # beats the shim's own start (its signalfd) can end it, as it would end an exec'd
        # plugin, and then before the DEL began: never half-way. How soon the shim is ready
        # depends on the machine's load, so either outcome is checked for what it must mean.
        lo = subprocess.run(["ip", "-n", pod, "link", "show", "lo"], capture_output=True, text=True, check=True)
        lo_up = "UP" in lo.stdout.split(">")[0]
        assert proc.returncode in (0, -signal.SIGTERM), (delay, out, err)
        if proc.returncode == 0:
            assert not lo_up, delay
        else:
            assert lo_up, delay  # killed before the DEL started: nothing was done


def test_socket_activation(tmp_path: Path, agent_ns: str) -> None:
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("needs systemd-socket-activate")
    sock = tmp_path / "activated" / "agent.sock"
    shims = tmp_path / "bin"
    install(str(shims), agent_socket=str(sock))
    sock.parent.mkdir(mode=0o700)
    # systemd-socket-activate listens, and starts the agent at the first connection.
    agent = start_agent(sock, netns=agent_ns, verbose=True, wrapper=(activate, "-l", str(sock)), wait=False)
    try:
        assert wait_for(sock.exists)
        assert version(shims / "ptp").returncode == 0
        assert wait_for(lambda: any("ptp VERSION" in line for line in served_lines(agent)))
    finally:
        agent.stop()
    units = write_units(str(tmp_path / "units"), str(sock))
    assert units == ["cni-agent.service", "cni-agent.socket", "cni-dhcp.service", "cni-dhcp.socket"]
    text = (tmp_path / "units" / "cni-agent.socket").read_text()
    assert f"ListenStream={sock}" in text
    assert "SocketMode=0600" in text
    assert "DirectoryMode=0700" in text
    assert "-m cni.cli agent" in (tmp_path / "units" / "cni-agent.service").read_text()
    dhcp = (tmp_path / "units" / "cni-dhcp.service").read_text()
    assert "-m cni.cli dhcp daemon --socket /run/cni/dhcp.sock" in dhcp
    assert "ListenStream=/run/cni/dhcp.sock" in (tmp_path / "units" / "cni-dhcp.socket").read_text()


def test_the_socket_is_private_and_one_agent_holds_it(tmp_path: Path, agent_ns: str) -> None:
    sock = tmp_path / "private" / "agent.sock"
    agent = start_agent(sock, netns=agent_ns)
    try:
        assert os.stat(sock).st_mode & 0o777 == 0o600
        assert os.stat(sock.parent).st_mode & 0o777 == 0o700
        second = subprocess.run(
            ["ip", "netns", "exec", agent_ns, sys.executable, "-m", "cni.cli", "agent", "--socket", str(sock)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 1
        assert b"another process serves" in second.stderr
    finally:
        agent.stop(signal.SIGKILL)
    # Killed, it left its socket: the next agent replaces it.
    assert sock.exists()
    again = start_agent(sock, netns=agent_ns)
    again.stop()
    assert not sock.exists()
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    refused = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            agent_ns,
            sys.executable,
            "-m",
            "cni.cli",
            "agent",
            "--socket",
            str(loose / "agent.sock"),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 1
    assert b"closed to others (0700)" in refused.stderr


def test_an_agent_whose_package_changed_reexecutes_and_refuses_the_old_shims(tmp_path: Path, agent_ns: str) -> None:
    """The agent runs from a copy of the package; the copy is upgraded under it."""
    site = tmp_path / "site"
    shutil.copytree(Path(str(cni.__file__)).parent, site / "cni", ignore=shutil.ignore_patterns("__pycache__"))
    deps = Path(str(__import__("pydantic").__file__)).parent.parent
    env = {**os.environ, "PYTHONPATH": f"{site}:{deps}"}
    sock = tmp_path / "copy" / "agent.sock"
    shims = tmp_path / "bin"
    install(str(shims), agent_socket=str(sock))
    agent = start_agent(sock, netns=agent_ns, verbose=True, env=env)
    try:
        assert version(shims / "static").returncode == 0
        assert wait_for(lambda: len(served_lines(agent)) == 1)
        # The pool at rest first: the agent checks the package whenever it wakes, and the
        # first worker's exit must not be the wake that sees the change.
        idle_workers(agent)
        init = site / "cni" / "__init__.py"
        init.write_text(init.read_text().replace(f'"{cni.__version__}"', '"99.0.0"'))
        # The next request is served by a worker of the old package, then the agent restarts.
        assert version(shims / "static").returncode == 0
        assert wait_for(lambda: "re-executing" in agent.log())
        assert wait_for(lambda: "cni 99.0.0 serving" in agent.log())
        out = version(shims / "static")
        assert out.returncode == 0
        assert json.loads(out.stdout)["cniVersion"] == "1.1.0"
        assert wait_for(lambda: "this agent is 99.0.0" in agent.log())
        assert agent.proc.poll() is None  # the same process, re-executed
        assert len(served_lines(agent)) == 2
        idle_workers(agent)
        tree = {agent.pool_process(), *agent.workers()}
    finally:
        agent.stop()
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in tree))


def test_the_pause_before_replacing_dying_workers_grows_and_stays_bounded() -> None:
    """Workers that keep dying (a broken installation) are replaced after a doubling pause;
    after thousands of deaths the pause is still a number (2**1100 as a float overflowed)."""
    from cni.agent.pool import refill_pause

    pauses = [refill_pause(n) for n in range(1, 12)]
    assert pauses == sorted(pauses)
    assert pauses[0] == 0.02
    assert pauses[-1] == 2.0
    assert refill_pause(10_000) == 2.0


REAP_RACE = """
import os, struct, time
from cni.agent.pool import Pool

pool = Pool.__new__(Pool)
pool.busy_r, busy_w = os.pipe2(os.O_CLOEXEC)
os.set_blocking(pool.busy_r, False)
pool.idle, pool.busy, pool.stopping, pool.failures, pool.refill_at = set(), set(), False, 0, 0.0
pool.learner = None
pid = os.fork()
if pid == 0:
    os.write(busy_w, struct.pack("i", os.getpid()))
    os._exit(0)
pool.idle.add(pid)
deadline = time.monotonic() + 10
while open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z" and time.monotonic() < deadline:
    time.sleep(0.01)
pool._reap()
print(pool.failures, sorted(pool.idle), sorted(pool.busy))
"""


def test_a_worker_that_ended_before_its_busy_note_was_read_is_not_a_failure() -> None:
    """A worker's note that it took a request precedes its end; when the pool reaps it with
    the note still unread (it took the request after the pool's poll), the note is read
    first. Before, such a worker counted as an idle one that died: a logged failure and a
    pause before the pool was refilled (3 times in 1,500 back-to-back requests)."""
    out = subprocess.run([sys.executable, "-c", REAP_RACE], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.split() == ["0", "[]", "[]"], out.stderr


def _private_dirty_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:"))


def _file_rss_kib(pid: int) -> int:
    """What the process maps of files: a worker's own page table entries (fork copies none
    for file mappings), so the code and data it has read since."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith("Pss_File:"))


def test_idle_workers_touch_in_advance_the_pages_a_request_touched(served: tuple[Path, Agent]) -> None:
    """The first worker to serve reports the pages its request touched; every idle worker
    forked after takes their faults while it waits (copy-on-write ones in its private
    memory, read ones of the interpreter's and the extension's code in its own page tables,
    before any request), so its request does not."""
    shims, agent = served
    pids = idle_workers(agent)
    before = {pid: _private_dirty_kib(pid) for pid in pids}
    files_before = {pid: _file_rss_kib(pid) for pid in pids}
    for _ in range(agent.pool):  # one of the first pool is the learner
        assert version(shims / "host-local").returncode == 0
        if wait_for(lambda: "in advance" in agent.log(), timeout=1):
            break
    (line,) = [line for line in agent.log().splitlines() if "in advance" in line]
    written, read = (int(line.split(f" {verb} ")[1].split()[0]) for verb in ("write", "read"))
    assert all(kib < written for kib in before.values()), (before, written)
    assert read > 0
    for _ in range(agent.pool + 1):  # every worker of the first pool served and replaced
        assert version(shims / "host-local").returncode == 0
    pids = idle_workers(agent)
    after = {pid: _private_dirty_kib(pid) for pid in pids}
    assert not after.keys() & before.keys()
    assert all(kib >= written * 0.9 for kib in after.values()), (after, written)
    # Pss shares each file page among its mappers: more than before it is all we can ask.
    files_after = {pid: _file_rss_kib(pid) for pid in pids}
    assert min(files_after.values()) > max(files_before.values()), (files_before, files_after)
