# SPDX-License-Identifier: Apache-2.0
"""The dhcp IPAM plugin and `cni dhcp daemon` against a real DHCP server: Debian's dnsmasq
in a server namespace on the node's bridge, the daemon in the node namespace, pods attached
by our bridge plugin. Every process is started here and stopped by pid; every wait is
bounded. dnsmasq's T1 of 4 s makes renewals visible in its lease file within seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dhcp import SERVER, Lab, wait_for
from tests.support.world import ok

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="needs Debian's dnsmasq-base"),
]


@pytest.fixture
def lab(tmp_path: Path, make_netns: Callable[[str], str], our_bin: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, make_netns, our_bin)
    try:
        lab.start_daemon()
        yield lab
    finally:
        lab.close()


def address_of(result: dict[str, Any]) -> str:
    return str(result["ips"][0]["address"]).split("/")[0]


def test_acquire_renew_restart_release(lab: Lab) -> None:
    result = ok(lab.world.cni("add"))
    address = address_of(result)
    assert result["ips"][0]["address"].endswith("/24")
    assert result["ips"][0]["gateway"] == SERVER
    assert {"dst": "0.0.0.0/0", "gw": SERVER} in result["routes"]
    assert address in lab.leased()
    ping = ["ip", "netns", "exec", lab.world.pods[0], "ping", "-c", "1", "-W", "1", SERVER]
    assert subprocess.run(ping, capture_output=True, check=False, timeout=10).returncode == 0
    # Renewed at T1 (4 s): the expiry in dnsmasq's lease file moves on.
    first = lab.leased()[address]
    wait_for(lambda: lab.leased().get(address, 0) > first, 15, "a renewal")
    assert lab.world.cni("check").returncode == 0
    # A daemon killed in the middle of the lease: the next one goes on renewing it.
    lab.stop_daemon(signal.SIGKILL)
    lab.start_daemon()
    renewed = lab.leased()[address]
    wait_for(lambda: lab.leased().get(address, 0) > renewed, 15, "a renewal by the restarted daemon")
    # DEL gives the lease back at once (the DHCPRELEASE leaves before the interface goes).
    assert lab.world.cni("del").returncode == 0
    wait_for(lambda: address not in lab.leased(), 5, "dnsmasq to drop the lease")
    assert not [p for p in lab.state.iterdir() if p.suffix == ".json"]


def test_rebinding_after_t2_when_the_server_was_away(lab: Lab) -> None:
    """The server stops answering before T1 (4 s) and is back after T2 (8 s): renewing
    fails, rebinding (broadcast) gets the lease extended."""
    address = address_of(ok(lab.world.cni("add")))
    lab.dnsmasq.kill()
    lab.dnsmasq.wait(timeout=10)
    before = lab.leased()[address]
    time.sleep(9)
    lab.dnsmasq = lab.start_server()
    wait_for(lambda: lab.leased().get(address, 0) > before, 20, "a rebinding")
    log = (lab.tmp / "daemon.log").read_text()
    assert "renewing" in log, log
    assert f"rebinding: lease of {address} extended" in log, log
    assert lab.world.cni("del").returncode == 0


def test_two_pods_get_two_leases(lab: Lab) -> None:
    first, second = ok(lab.world.cni("add", 0, "a")), ok(lab.world.cni("add", 1, "b"))
    assert address_of(first) != address_of(second)
    assert {address_of(first), address_of(second)} <= set(lab.leased())
    for n, cid in ((0, "a"), (1, "b")):
        assert lab.world.cni("del", n, cid).returncode == 0
    wait_for(lambda: not lab.leased(), 5, "both leases released")


def plugin(lab: Lab, command: str, conf: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": lab.world.pod_path(0),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(lab.world.cni_path),
        "PATH": os.environ["PATH"],
    }
    return subprocess.run(
        ["ip", "netns", "exec", lab.world.node, str(lab.world.cni_path / "dhcp")],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_del_with_the_daemon_down_releases_when_it_returns(lab: Lab) -> None:
    address = address_of(ok(lab.world.cni("add")))
    lab.stop_daemon()
    # The interface stays (only the IPAM DEL runs), as when the daemon is down for a while.
    conf = {
        "cniVersion": "1.1.0",
        "name": "dhnet",
        "type": "bridge",
        "ipam": {"type": "dhcp", "daemonSocketPath": str(lab.socket)},
    }
    status = plugin(lab, "STATUS", conf)
    assert status.returncode == 1
    assert json.loads(status.stdout)["code"] == 50
    assert plugin(lab, "DEL", conf).returncode == 0
    assert address in lab.leased()
    lab.start_daemon()
    wait_for(lambda: address not in lab.leased(), 10, "the pending release")
    assert plugin(lab, "STATUS", conf).returncode == 0
    assert lab.world.cni("del").returncode == 0


@pytest.mark.parametrize(
    ("ipam", "named"),
    [
        ({"daemonSocketPath": ""}, "daemonSocketPath"),
        ({"request": [{"option": "no-such-option"}]}, "request"),
        ({"request": "routers"}, "request"),
        ({"provide": [{"value": "x"}]}, "provide"),
        ({"provide": [{"option": "host-name", "value": "x" * 300}]}, "provide"),
        ({"priority": -1}, "priority"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(lab: Lab, ipam: dict[str, Any], named: str) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "dhnet",
        "type": "bridge",
        "ipam": {"type": "dhcp", "daemonSocketPath": str(lab.socket), **ipam},
    }
    out = plugin(lab, "ADD", conf)
    assert out.returncode == 1
    error = json.loads(out.stdout)
    assert error["code"] == 7, error
    assert named in error["msg"], error
    assert lab.leased() == {}


def test_provided_options_reach_the_server(lab: Lab) -> None:
    conf = json.loads(lab.world.conf_file.read_text())
    conf["plugins"][0]["ipam"]["provide"] = [{"option": "host-name", "fromArg": "K8S_POD_NAME"}]
    conf["plugins"][0]["ipam"]["priority"] = 50
    lab.world.conf_file.write_text(json.dumps(conf))
    result = ok(lab.world.cni("add", 0, "c1", "--args", "IgnoreUnknown=1;K8S_POD_NAME=web-0"))
    assert all(route.get("priority") == 50 for route in result["routes"])
    wait_for(lambda: "web-0" in lab.leases.read_text(), 5, "the host name in the lease file")
    assert lab.world.cni("del", 0, "c1", "--args", "IgnoreUnknown=1;K8S_POD_NAME=web-0").returncode == 0


def test_gc_releases_the_leases_of_lost_attachments(lab: Lab) -> None:
    kept, lost = address_of(ok(lab.world.cni("add", 0, "keep"))), address_of(ok(lab.world.cni("add", 1, "lost")))
    conf = {
        "cniVersion": "1.1.0",
        "name": "dhnet",
        "type": "bridge",
        "ipam": {"type": "dhcp", "daemonSocketPath": str(lab.socket)},
        "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}],
    }
    assert plugin(lab, "GC", conf).returncode == 0
    wait_for(lambda: lost not in lab.leased(), 5, "the lost attachment's lease released")
    assert kept in lab.leased()
    assert lab.world.cni("del", 0, "keep").returncode == 0


def test_the_daemon_under_socket_activation(lab: Lab, tmp_path: Path) -> None:
    if shutil.which("systemd-socket-activate") is None:
        pytest.skip("needs systemd-socket-activate")
    lab.stop_daemon()
    activated = tmp_path / "activated.sock"
    lab.socket = activated
    conf = json.loads(lab.world.conf_file.read_text())
    conf["plugins"][0]["ipam"]["daemonSocketPath"] = str(activated)
    lab.world.conf_file.write_text(json.dumps(conf))
    with (tmp_path / "activated.log").open("w") as log:
        lab.daemon = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.world.node,
                "systemd-socket-activate",
                "-l",
                str(activated),
                sys.executable,
                "-m",
                "cni.cli",
                "dhcp",
                "daemon",
                "--socket",
                str(activated),
                "--state-dir",
                str(lab.state),
                "--timeout",
                "5",
            ],
            stdout=log,
            stderr=log,
        )
    wait_for(activated.exists, 20, "systemd-socket-activate's socket")
    address = address_of(ok(lab.world.cni("add")))
    assert address in lab.leased()
    assert lab.world.cni("del").returncode == 0
    wait_for(lambda: address not in lab.leased(), 5, "the release")


def test_beside_the_reference_protocols_are_told_apart(lab: Lab, tmp_path: Path) -> None:
    """The reference's plugin and daemon speak Go net/rpc: each side names the mismatch
    instead of hanging or mis-reading."""
    reference = Path("/usr/lib/cni/dhcp")
    if not reference.exists():
        pytest.skip("needs containernetworking-plugins")
    conf = {
        "cniVersion": "1.0.0",
        "name": "dhnet",
        "type": "bridge",
        "ipam": {"type": "dhcp", "daemonSocketPath": str(lab.socket)},
    }
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": lab.world.pod_path(0),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/usr/lib/cni",
        "PATH": os.environ["PATH"],
    }
    theirs = subprocess.run(
        ["ip", "netns", "exec", lab.world.node, str(reference)],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert theirs.returncode == 1
    assert "cni package" in theirs.stdout.decode(), theirs.stdout
    # Their daemon, our plugin.
    their_socket = tmp_path / "ref" / "dhcp.sock"
    their_socket.parent.mkdir()
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", lab.world.node, str(reference), "daemon", "-socketpath", str(their_socket)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(their_socket.exists, 20, "the reference daemon's socket")
        ours = plugin(lab, "ADD", {**conf, "ipam": {"type": "dhcp", "daemonSocketPath": str(their_socket)}})
        assert ours.returncode == 1
        assert "Go net/rpc" in json.loads(ours.stdout)["msg"]
    finally:
        daemon.kill()
        daemon.wait(timeout=10)
    assert lab.leased() == {}


def test_check_fails_when_the_result_does_not_hold_the_lease(lab: Lab) -> None:
    result = ok(lab.world.cni("add"))
    conf = {
        "cniVersion": "1.0.0",
        "name": "dhnet",
        "type": "bridge",
        "ipam": {"type": "dhcp", "daemonSocketPath": str(lab.socket)},
        "prevResult": result,
    }
    assert plugin(lab, "CHECK", conf).returncode == 0
    other = {**result, "ips": [{**result["ips"][0], "address": "10.70.0.250/24"}]}
    out = plugin(lab, "CHECK", {**conf, "prevResult": other})
    assert out.returncode == 1
    assert "not in the result" in json.loads(out.stdout)["msg"]
    assert lab.world.cni("del").returncode == 0
