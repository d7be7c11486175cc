# SPDX-License-Identifier: Apache-2.0
"""The bandwidth plugin after bridge + host-local: the qdiscs, filter and IFB it installs
(read with `tc -j`), a real transfer at the configured rate each way, CHECK after a
deliberate change, refusals that change nothing, kills at any point of ADD, GC, and the
reference's bandwidth on the same kernel state."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS
from tests.support.faults import kill_at_each_point, plugin_runner
from tests.support.world import World, ok

pytestmark = pytest.mark.netns

BRIDGE = "bwbr0"
GATEWAY = "10.68.0.1"
LIMITS = {"ingressRate": 8_000_000, "ingressBurst": 160_000, "egressRate": 16_000_000, "egressBurst": 160_000}


def conflist(tmp: Path, **bandwidth: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "bwnet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipam": {"type": "host-local", "subnet": "10.68.0.0/24", "dataDir": "@IPAM@"},
            },
            {"type": "bandwidth", "dataDir": str(tmp / "bw"), **bandwidth},
        ],
    }


def tc(netns: str, *what: str) -> list[dict[str, Any]]:
    out = subprocess.run(["ip", "netns", "exec", netns, "tc", "-j", *what], capture_output=True, check=True)
    data: list[dict[str, Any]] = json.loads(out.stdout or b"[]")
    return data


def shaping(netns: str) -> list[str]:
    """The non-default qdiscs of the node and the ingress filters' actions, veth names
    replaced (each ADD picks a random one)."""
    seen = []
    for q in tc(netns, "qdisc", "show"):
        if q.get("handle") == "0:":
            continue
        opts = q.get("options", {})
        detail = (
            f"rate {opts.get('rate')} burst {opts.get('burst')} lat {opts.get('lat')}" if q["kind"] == "tbf" else ""
        )
        seen.append(f"{q['dev']} {q['kind']} {q['handle']} {detail}".strip())
        if q["kind"] == "ingress":
            for f in tc(netns, "filter", "show", "dev", q["dev"], "ingress"):
                for action in f.get("options", {}).get("actions", []):
                    then = action.get("control_action", {}).get("type")
                    seen.append(f"{q['dev']} filter {action.get('kind')} {action.get('to_dev')} {then}")
    return sorted(re.sub(r"veth[0-9a-f]+", "veth*", line) for line in seen)


def host_veth(netns: str) -> str:
    links = subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True, check=True).stdout
    return str(re.findall(r"\d+: (veth[0-9a-f]+)@", links)[0])


@pytest.fixture
def world(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> World:
    return World("bw", tmp_path, make_netns, conflist(tmp_path, **LIMITS), our_bin)


def warmed(world: World) -> dict[str, Any]:
    """The node after a first pod came and went (the bridge stays, as in the reference)."""
    ok(world.cni("add", 0, "first"))
    assert world.cni("del", 0, "first").returncode == 0
    return world.snapshot(infra={BRIDGE})


def test_add_installs_the_references_shaping_check_and_del(world: World) -> None:
    before = warmed(world)
    result = ok(world.cni("add"))
    ifb = "bwp" + result["interfaces"][-1]["name"][3:]
    assert re.fullmatch(r"bwp[0-9a-f]{12}", ifb)
    assert result["interfaces"][-1]["mac"]
    assert shaping(world.node) == sorted(
        [
            "veth* tbf 1: rate 1000000 burst 20000 lat 25000",  # to the pod: 8 Mbit/s
            "veth* ingress ffff:",
            f"veth* filter mirred {ifb} stolen",
            f"{ifb} tbf 1: rate 2000000 burst 20000 lat 25000",  # from the pod: 16 Mbit/s
        ]
    )
    assert world.cni("check").returncode == 0
    assert world.cni("del").returncode == 0
    assert shaping(world.node) == []
    assert world.snapshot(infra={BRIDGE}) == before
    assert world.cni("del").returncode == 0


@pytest.mark.parametrize(
    "change",
    [
        "tc qdisc change dev {ifb} root tbf rate 1mbit burst 20kb latency 25ms",
        "tc qdisc del dev {veth} root",
        "tc filter del dev {veth} ingress",
        "ip link del {ifb}",
    ],
)
def test_check_fails_after_a_change(world: World, change: str) -> None:
    result = ok(world.cni("add"))
    command = change.format(ifb=result["interfaces"][-1]["name"], veth=host_veth(world.node))
    subprocess.run(["ip", "netns", "exec", world.node, *command.split()], check=True)
    out = world.cni("check")
    assert out.returncode != 0, out.stdout
    assert "bandwidth" in json.loads(out.stdout)["msg"]
    assert world.cni("del").returncode == 0
    assert shaping(world.node) == []


TRANSFER = r"""
import socket, sys, time
role, host, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if role == "recv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(1); s.settimeout(30)
    print("ready", flush=True)
    c, _ = s.accept(); c.settimeout(30)
    got, first = 0, None
    while got < size:
        chunk = c.recv(65536)
        if not chunk:
            break
        first = first or time.monotonic()
        got += len(chunk)
    print(got, time.monotonic() - first, flush=True)
else:
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"x" * size)
    s.close()
"""


def transfer(receiver: str, sender: str, address: str, size: int) -> float:
    """Bytes per second of `size` bytes of TCP payload from `sender` to `receiver`."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", receiver, "python3", "-c", TRANSFER, "recv", address, "5201", str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        subprocess.run(
            ["ip", "netns", "exec", sender, "python3", "-c", TRANSFER, "send", address, "5201", str(size)],
            check=True,
            timeout=60,
        )
        got, seconds = server.stdout.readline().split()
        assert int(got) == size
        return size / float(seconds)
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


#: How far from the configured rate a transfer may land, as a fraction of it.
TOLERANCE = 0.10


def shaped_rate(receiver: str, sender: str, address: str, size: int, configured: int) -> float:
    """The fastest of up to three transfers' payload rates, as a fraction of what the
    configured rate leaves for payload. A shaper's rate is a ceiling that every transfer must
    respect; a busy machine can only slow a transfer below it (CI saw 14 % once), so a slow
    one is retried rather than taken as the shaper's rate."""
    # The TBF counts frames (payload plus 66 bytes of Ethernet, IP and TCP headers per
    # 1448-byte segment): the payload rate is 1448/1514 of the configured rate.
    expected = configured * 1448 / 1514
    best = 0.0
    for _ in range(3):
        measured = transfer(receiver, sender, address, size) * 8 / expected
        print(f"{sender} -> {receiver}: {measured:.3f} of the configured rate")
        assert measured <= 1 + TOLERANCE, (measured, configured)
        best = max(best, measured)
        if best >= 1 - TOLERANCE:
            break
    return best


def test_a_real_transfer_runs_at_the_configured_rate_each_way(world: World) -> None:
    result = ok(world.cni("add"))
    pod_ip = result["ips"][0]["address"].split("/")[0]
    into_pod = shaped_rate(world.pods[0], world.node, pod_ip, 2_500_000, LIMITS["ingressRate"])
    out_of_pod = shaped_rate(world.node, world.pods[0], GATEWAY, 5_000_000, LIMITS["egressRate"])
    for rate in (into_pod, out_of_pod):
        assert abs(rate - 1) <= TOLERANCE, rate
    assert world.cni("del").returncode == 0


def test_no_limits_pass_the_result_through(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> None:
    world = World("bwnone", tmp_path, make_netns, conflist(tmp_path), our_bin)
    result = ok(world.cni("add"))
    assert [i["name"][:3] for i in result["interfaces"]] == [BRIDGE[:3], "vet", "eth"]
    assert shaping(world.node) == []
    assert world.cni("del").returncode == 0


def test_runtime_config_bandwidth_from_the_capability(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    conf = conflist(tmp_path)
    conf["plugins"][1]["capabilities"] = {"bandwidth": True}
    world = World("bwcap", tmp_path, make_netns, conf, our_bin)
    caps = {"bandwidth": {"ingressRate": 8_000_000, "ingressBurst": 160_000}}
    ok(world.cni("add", cap_args=caps))
    assert shaping(world.node) == ["veth* tbf 1: rate 1000000 burst 20000 lat 25000"]
    assert world.cni("check", cap_args=caps).returncode == 0
    assert world.cni("del", cap_args=caps).returncode == 0
    assert shaping(world.node) == []


BAD = [
    ({"ingressRate": -1, "ingressBurst": 1000}, "ingressRate"),
    ({"ingressRate": "fast", "ingressBurst": 1000}, "ingressRate"),
    ({"egressRate": 1.5, "egressBurst": 1000}, "egressRate"),
    ({"egressRate": 1000, "egressBurst": True}, "egressBurst"),
    ({"ingressRate": 8000}, "ingressBurst must be set"),
    ({"egressBurst": 8000}, "egressRate must be set"),
    ({"ingressRate": 8000, "ingressBurst": 8 * 0xFFFFFFFF}, "4 GiB"),
    ({"ingressRate": 7, "ingressBurst": 8000}, "at least 8"),
    ({"egressRate": 8, "egressBurst": 80_000_000}, "cannot be shaped"),
    ({"runtimeConfig": {"bandwidth": {"ingressRate": -5}}}, "runtimeConfig.bandwidth.ingressRate"),
    ({"dataDir": ""}, "dataDir"),
]


@pytest.mark.parametrize(("keys", "named"), BAD, ids=[json.dumps(k)[:50] for k, _ in BAD])
def test_bad_values_are_refused_and_change_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path, keys: dict[str, Any], named: str
) -> None:
    world = World("bwbad", tmp_path, make_netns, conflist(tmp_path, **keys), our_bin)
    out = world.cni("add")
    error = json.loads(out.stdout)
    assert out.returncode != 0
    assert error["code"] == 7, error
    assert named in error["msg"], error
    # The bridge's part came and went (the runtime's DEL after the failed ADD); of the
    # bandwidth plugin's, nothing was ever made.
    assert shaping(world.node) == []
    if "dataDir" in keys:
        return  # a DEL cannot know where the records are either: refused alike
    assert world.cni("del").returncode == 0
    assert world.snapshot(infra={BRIDGE})["node"]["links"] == ["lo"]
    assert records(tmp_path) == []


def test_a_veth_shaped_by_someone_else_is_refused_untouched(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    """A root qdisc that is not the kernel's default is someone's: ADD neither replaces it
    nor, undoing itself, removes it."""
    world, run = bandwidth_alone(tmp_path, make_netns, our_bin)
    veth = host_veth(world.node)
    foreign = f"tc qdisc add dev {veth} root handle 5: tbf rate 1mbit burst 10kb latency 50ms"
    subprocess.run(["ip", "netns", "exec", world.node, *foreign.split()], check=True)
    before = shaping(world.node)
    out = run("ADD")
    assert out.returncode == 1
    assert f"{veth} has a tbf qdisc already" in json.loads(out.stdout)["msg"]
    assert shaping(world.node) == before
    assert records(tmp_path) == []


def test_del_and_gc_after_the_pod_is_gone(world: World, tmp_path: Path) -> None:
    ok(world.cni("add", 0, "lost"))
    subprocess.run(["ip", "netns", "del", world.pods[0]], check=True)
    # The runtime lost track of the attachment: GC of the network with nothing valid.
    gc_conf = {**json.loads(world.plugin_stdin(1)), "cniVersion": "1.1.0", "cni.dev/valid-attachments": []}
    out = subprocess.run(
        ["ip", "netns", "exec", world.node, str(world.cni_path / "bandwidth")],
        input=json.dumps(gc_conf).encode(),
        env={"CNI_COMMAND": "GC", "CNI_PATH": str(world.cni_path), "PATH": "/usr/sbin:/usr/bin"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout
    assert [line for line in shaping(world.node) if line.startswith("bwp")] == []
    assert records(tmp_path) == []


def records(tmp_path: Path) -> list[str]:
    directory = tmp_path / "bw" / "bwnet"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def bandwidth_alone(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> tuple[World, Callable[..., subprocess.CompletedProcess[bytes]]]:
    """A pod that bridge + host-local attached, and `run(command, *strace options)` of the
    bandwidth plugin alone on it."""
    conf = conflist(tmp_path)
    conf["plugins"] = conf["plugins"][:1]
    world = World("bwf1", tmp_path, make_netns, conf, our_bin)
    prev = ok(world.cni("add"))
    bandwidth = {"cniVersion": "1.0.0", "name": "bwnet", "type": "bandwidth", "dataDir": str(tmp_path / "bw")}
    stdin = json.dumps({**bandwidth, **LIMITS, "prevResult": prev}).encode()
    env = {
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": world.pod_path(0),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    return world, plugin_runner(world.node, our_bin / "bandwidth", stdin, env, our_bin)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (fault injection)")
def test_killed_at_any_point_of_add_then_del_leaves_nothing(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    world, run = bandwidth_alone(tmp_path, make_netns, our_bin)
    before = world.snapshot(infra={BRIDGE})

    def after(syscall: str, n: int) -> None:
        out = run("DEL")
        assert out.returncode == 0, (syscall, n, out.stdout)
        assert shaping(world.node) == [], (syscall, n)
        assert world.snapshot(infra={BRIDGE}) == before, (syscall, n)
        assert records(tmp_path) == [], (syscall, n)

    assert kill_at_each_point(run, ("sendto", "rename"), after, most=60) > 3


# --- beside the reference ---------------------------------------------------------------------------


@pytest.fixture
def reference_world(tmp_path: Path, make_netns: Callable[[str], str]) -> World:
    if not (REFERENCE_PLUGINS / "bandwidth").exists():
        pytest.skip("needs containernetworking-plugins")
    return World("bwref", tmp_path, make_netns, conflist(tmp_path / "ref", **LIMITS), REFERENCE_PLUGINS)


def test_same_shaping_as_the_reference(world: World, reference_world: World) -> None:
    ours, theirs = ok(world.cni("add")), ok(reference_world.cni("add"))
    assert ours["interfaces"][-1]["name"] == theirs["interfaces"][-1]["name"]  # the same IFB name
    mine, reference = shaping(world.node), shaping(reference_world.node)
    # On purpose: the reference's filter has a second mirred action ("pass") after the
    # redirect, which steals every packet first; ours has the one that acts.
    ifb = ours["interfaces"][-1]["name"]
    assert reference.count(f"veth* filter mirred {ifb} pass") == 1
    reference.remove(f"veth* filter mirred {ifb} pass")
    assert mine == reference
    assert world.cni("check").returncode == 0
    assert reference_world.cni("check").returncode == 0
    assert world.cni("del").returncode == 0
    assert reference_world.cni("del").returncode == 0
    assert shaping(world.node) == shaping(reference_world.node) == []


def test_either_del_removes_what_the_other_add_made(
    tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path
) -> None:
    if not (REFERENCE_PLUGINS / "bandwidth").exists():
        pytest.skip("needs containernetworking-plugins")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for plugin in ("bridge", "host-local", ".cni-plugins.json"):
        (mixed / plugin).symlink_to(our_bin / plugin)
    for n, (add, delete) in enumerate(((REFERENCE_PLUGINS, our_bin), (our_bin, REFERENCE_PLUGINS))):
        world = World(f"bwmix{n}", tmp_path, make_netns, conflist(tmp_path / f"m{n}", **LIMITS), mixed)
        (mixed / "bandwidth").unlink(missing_ok=True)
        (mixed / "bandwidth").symlink_to(add / "bandwidth")
        ok(world.cni("add"))
        (mixed / "bandwidth").unlink()
        (mixed / "bandwidth").symlink_to(delete / "bandwidth")
        assert world.cni("del").returncode == 0
        assert shaping(world.node) == [], (add, delete)
