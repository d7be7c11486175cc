# SPDX-License-Identifier: Apache-2.0
"""Real libcni (Debian's v1.1.2) drives a plugin built on our SDK, and the two runtimes
read each other's result cache, so a node can switch between them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cni.runtime import CNIConfig, RuntimeConf, conflist_from_bytes
from tests.support.env import calls

pytestmark = [pytest.mark.interop, pytest.mark.netns]


@pytest.fixture
def world(tmp_path: Path, plugin_dir: Path, debug_dir: Path, make_netns: Callable[[str], str]) -> dict[str, Any]:
    conf = {
        "cniVersion": "1.0.0",
        "name": "echonet",
        "plugins": [
            {"type": "echo", "debugDir": str(debug_dir)},
            {"type": "echo2", "debugDir": str(debug_dir), "addIP": "10.99.0.3/24"},
        ],
    }
    conf_file = tmp_path / "echonet.conflist"
    conf_file.write_text(json.dumps(conf))
    return {
        "conf_file": conf_file,
        "pod": f"/var/run/netns/{make_netns('pod')}",
        "cache": tmp_path / "cache",
        "plugin_dir": plugin_dir,
        "debug_dir": debug_dir,
    }


def go(driver: Path, world: dict[str, Any], verb: str, cid: str = "c1") -> dict[str, Any]:
    out = subprocess.run(
        [
            str(driver),
            verb,
            str(world["conf_file"]),
            world["pod"],
            cid,
            "eth0",
            str(world["cache"]),
            "IgnoreUnknown=1;K8S_POD_NAME=web",
        ],
        env={**os.environ, "CNI_PATH": str(world["plugin_dir"])},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def ours(world: dict[str, Any]) -> tuple[CNIConfig, Any]:
    runtime = CNIConfig([str(world["plugin_dir"])], cache_dir=str(world["cache"]))
    return runtime, conflist_from_bytes(world["conf_file"].read_bytes())


def rt(world: dict[str, Any], cid: str = "c1") -> RuntimeConf:
    return RuntimeConf(cid, world["pod"], "eth0", [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")])


def records(debug_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(debug_dir.iterdir())]


def test_libcni_add_check_del_through_our_sdk(go_driver: Path, world: dict[str, Any]) -> None:
    result = go(go_driver, world, "add")
    assert result["cniVersion"] == "1.0.0"
    assert [ip["address"] for ip in result["ips"]] == ["10.99.0.2/24", "10.99.0.3/24"]
    go(go_driver, world, "check")
    go(go_driver, world, "del")
    assert calls(world["debug_dir"]) == ["ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL"]
    seen = records(world["debug_dir"])
    assert seen[0]["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
    assert seen[1]["conf"]["prevResult"]["ips"][0]["address"] == "10.99.0.2/24"
    assert seen[2]["conf"]["prevResult"] == result
    assert [r["conf"]["type"] for r in seen[4:]] == ["echo2", "echo"]


def test_same_result_from_both_runtimes(go_driver: Path, world: dict[str, Any]) -> None:
    go_result = go(go_driver, world, "add", "go1")
    runtime, network = ours(world)
    our_result = runtime.add_network_list(network, rt(world, "py1"))
    if go_result.get("dns") == {}:
        del go_result["dns"]  # Go prints an empty DNS object; we omit it
    assert our_result == go_result


def test_we_read_libcni_cache_and_del_with_it(go_driver: Path, world: dict[str, Any]) -> None:
    """A node switching from libcni to us: DEL finds libcni's cached result."""
    result = go(go_driver, world, "add")
    runtime, network = ours(world)
    assert runtime.get_cached_result(network, rt(world)) == {k: v for k, v in result.items() if v != {}}
    cached = runtime.get_cached_config("echonet", rt(world))
    assert cached is not None
    assert cached[0].name == "echonet"
    assert cached[1].args == [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")]
    runtime.del_network_list(network, rt(world))
    dels = [r for r in records(world["debug_dir"]) if r["env"]["CNI_COMMAND"] == "DEL"]
    assert dels[0]["conf"]["prevResult"]["ips"] == result["ips"]
    assert os.listdir(world["cache"] / "results") == []


def test_libcni_reads_our_cache_and_dels_with_it(go_driver: Path, world: dict[str, Any]) -> None:
    """A node switching from us to libcni: it finds our cached result."""
    runtime, network = ours(world)
    result = runtime.add_network_list(network, rt(world))
    assert go(go_driver, world, "cached") == result
    go(go_driver, world, "del")
    dels = [r for r in records(world["debug_dir"]) if r["env"]["CNI_COMMAND"] == "DEL"]
    assert dels[0]["conf"]["prevResult"] == result
    assert os.listdir(world["cache"] / "results") == []
