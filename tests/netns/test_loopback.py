# SPDX-License-Identifier: Apache-2.0
"""The loopback plugin in throwaway namespaces, beside Debian's."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import REFERENCE_PLUGINS
from tests.support.world import normalise_result, pod_state

pytestmark = pytest.mark.netns

VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def run(plugin: Path, command: str, netns: str, version: str = "1.0.0", **conf: Any) -> tuple[int, Any]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "lo1",
        "CNI_NETNS": netns,
        "CNI_IFNAME": "lo",
        "CNI_PATH": str(plugin.parent),
        "PATH": os.environ["PATH"],
    }
    stdin = json.dumps({"cniVersion": version, "name": "lonet", "type": "loopback", **conf}).encode()
    out = subprocess.run([str(plugin)], input=stdin, env=env, capture_output=True, timeout=60, check=False)
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del(our_bin: Path, make_netns: Callable[[str], str], version: str) -> None:
    ns = make_netns("lo")
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "down"], check=True)
    status, result = run(our_bin / "loopback", "ADD", f"/var/run/netns/{ns}", version)
    assert status == 0, result
    assert result["cniVersion"] == version
    assert [ip["address"] for ip in result["ips"]] == ["127.0.0.1/8", "::1/128"]
    assert pod_state(ns)["lo_up"]
    if version.startswith("0."):
        assert [ip["version"] for ip in result["ips"]] == ["4", "6"], "0.x results carry ips[].version"
    prev = {"prevResult": result}
    check = run(our_bin / "loopback", "CHECK", f"/var/run/netns/{ns}", version, **prev)
    assert check[0] == (1 if version == "0.3.1" else 0)  # CHECK needs 0.4.0
    assert run(our_bin / "loopback", "DEL", f"/var/run/netns/{ns}", version)[0] == 0
    assert not pod_state(ns)["lo_up"]
    assert run(our_bin / "loopback", "CHECK", f"/var/run/netns/{ns}", version, **prev)[0] == 1


@pytest.mark.interop
def test_same_result_as_reference(our_bin: Path, make_netns: Callable[[str], str]) -> None:
    """At 1.0.0 (Debian's loopback prints a 1.0-shaped result even for 0.x configs, without
    the `version` that 0.3/0.4 results need; ours converts properly, as tested above)."""
    version = "1.0.0"
    if not (REFERENCE_PLUGINS / "loopback").exists():
        pytest.skip("needs containernetworking-plugins")
    a, b = make_netns("loa"), make_netns("lob")
    ours = run(our_bin / "loopback", "ADD", f"/var/run/netns/{a}", version)
    theirs = run(REFERENCE_PLUGINS / "loopback", "ADD", f"/var/run/netns/{b}", version)
    assert normalise_result(ours[1]) == normalise_result(theirs[1])
    assert pod_state(a) == pod_state(b)


def test_e4_del_with_the_namespace_gone_succeeds(our_bin: Path) -> None:
    assert run(our_bin / "loopback", "DEL", "/var/run/netns/cnit-never-existed")[0] == 0
    status, err = run(our_bin / "loopback", "ADD", "/var/run/netns/cnit-never-existed")
    assert (status, err["code"]) == (1, 8)
