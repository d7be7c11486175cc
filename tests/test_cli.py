# SPDX-License-Identifier: Apache-2.0
"""The `cni` command: cnitool's verbs and environment, tables and --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest.mock import ANY

import pytest

from cni.cli import container_id_for, main
from tests.support.env import calls


@pytest.fixture
def env(plugin_dir: Path, tmp_path: Path, debug_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "10-test.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "1.1.0",
                "name": "testnet",
                "plugins": [
                    {"type": "echo", "debugDir": str(debug_dir), "capabilities": {"mac": True}},
                    {"type": "echo2", "debugDir": str(debug_dir)},
                ],
            }
        )
    )
    monkeypatch.setenv("NETCONFPATH", str(conf_dir))
    monkeypatch.setenv("CNI_PATH", str(plugin_dir))
    monkeypatch.setenv("CNI_NETNS_OVERRIDE", "1")
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str, str]:
    status = main(
        [*args[:1], "--cache-dir", str(tmp_path / "cache"), *args[1:]]
        if args[0] not in ("schema", "version", "install")
        else list(args)
    )
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def pod(make_netns: Callable[[str], str]) -> str:
    """A throwaway namespace to attach (the plugins refuse our own)."""
    return f"/var/run/netns/{make_netns('pod')}"


def test_add_check_del_round(env: Path, capsys: pytest.CaptureFixture[str], debug_dir: Path, pod: str) -> None:
    status, out, _ = cli(
        capsys, env, "add", "testnet", pod, "--cap-args", '{"mac": "02:00:00:00:00:07"}', "--args", "IgnoreUnknown=1"
    )
    assert status == 0
    assert "10.99.0.2/24" in out
    assert "0.0.0.0/0" in out
    assert "eth0" in out
    first = json.loads(sorted(debug_dir.iterdir())[0].read_text())
    assert first["env"]["CNI_CONTAINERID"] == container_id_for(pod)
    assert first["env"]["CNI_ARGS"] == "IgnoreUnknown=1"
    assert "CNI_NETNS_OVERRIDE" not in first["env"], "our own CNI_* variables must not reach plugins"
    assert first["conf"]["runtimeConfig"] == {"mac": "02:00:00:00:00:07"}
    status, out, _ = cli(capsys, env, "check", "testnet", pod, "--json")
    assert (status, json.loads(out)) == (0, {"network": "testnet", "ok": True})
    status, out, _ = cli(capsys, env, "del", "testnet", pod)
    assert status == 0
    assert calls(debug_dir) == ["ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL"]


def test_add_json_and_error_json(env: Path, capsys: pytest.CaptureFixture[str], pod: str) -> None:
    status, out, _ = cli(capsys, env, "add", "testnet", pod, "--json", "--ifname", "net1")
    assert status == 0
    assert json.loads(out)["cniVersion"] == "1.1.0"
    cached = sorted(os.listdir(env / "cache" / "results"))
    status, out, _ = cli(capsys, env, "add", "nope", pod, "--json")
    assert status == 1
    assert json.loads(out)["code"] == 7
    status, out, _ = cli(capsys, env, "add", "testnet", pod, "--json", "--args", "A=x=y")
    assert status == 1
    assert json.loads(out)["code"] == 4
    assert sorted(os.listdir(env / "cache" / "results")) == cached, "failed ADDs cache nothing"


def test_the_guard_refuses_our_own_netns(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(capsys, env, "add", "testnet", "/proc/self/ns/net")
    assert status == 1
    assert "error 8" in err
    assert "own network namespace" in err


def test_gc_and_status(env: Path, capsys: pytest.CaptureFixture[str], debug_dir: Path, pod: str) -> None:
    cli(capsys, env, "add", "testnet", pod, "--container-id", "keep")
    cli(capsys, env, "add", "testnet", pod, "--container-id", "drop")
    status, _, _ = cli(capsys, env, "gc", "testnet", "--valid", "keep/eth0")
    assert status == 0
    assert sorted(os.listdir(env / "cache" / "results")) == ["testnet-keep-eth0"]
    assert calls(debug_dir)[-2:] == ["GC", "GC"]
    status, out, _ = cli(capsys, env, "status", "testnet", "--json")
    assert (status, json.loads(out)) == (0, {"network": "testnet", "ready": True})


def test_list_and_validate(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "net.d" / "20-broken.conflist").write_text("{")
    status, out, err = cli(capsys, env, "list")
    assert status == 1  # a broken file is reported...
    assert "testnet" in out
    assert "echo -> echo2" in out
    assert "20-broken.conflist" in err
    status, out, _ = cli(capsys, env, "list", "--json")
    listed = json.loads(out)
    assert listed["networks"][0]["plugins"] == ["echo", "echo2"]
    assert listed["errors"][0]["code"] == 6
    status, out, _ = cli(capsys, env, "validate", "testnet")
    assert status == 0
    assert "testnet: ok (capabilities: mac)" in out


def test_schema_version_install(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = cli(capsys, tmp_path, "schema", "conflist")
    schema = json.loads(out)
    assert status == 0
    assert {"cniVersion", "name", "plugins", "disableCheck", "disableGC"} <= set(schema["properties"])
    assert "name" in schema["required"]
    status, out, _ = cli(capsys, tmp_path, "schema", "netconf")
    assert {"type", "ipam", "dns", "prevResult", "runtimeConfig"} <= set(json.loads(out)["properties"])
    assert cli(capsys, tmp_path, "schema", "nope")[0] == 1
    status, out, _ = cli(capsys, tmp_path, "schema", "bridge")
    bridge = json.loads(out)
    assert status == 0
    assert bridge["properties"]["vlan"] == {"type": "integer", "minimum": 0, "maximum": 4094, "description": ANY}
    assert {"name", "type"} <= set(bridge["required"])
    status, out, _ = cli(capsys, tmp_path, "schema", "host-local")
    assert "dataDir" in json.loads(out)["properties"]["ipam"]["properties"]
    status, out, _ = cli(capsys, tmp_path, "version", "--json")
    assert json.loads(out)["supportedVersions"][-1] == "1.1.0"
    status, out, _ = cli(capsys, tmp_path, "install", str(tmp_path / "bin"))
    assert status == 0
    from cni.install import LAUNCHERS, SHIM_CONF
    from cni.plugins.registry import MANIFEST, PLUGINS

    names = [p.type for p in PLUGINS]
    assert sorted(os.listdir(tmp_path / "bin")) == sorted([MANIFEST, SHIM_CONF, LAUNCHERS, *names])
    assert sorted(os.listdir(tmp_path / "bin" / LAUNCHERS)) == sorted(["cni-shim", *names])
    status, out, _ = cli(capsys, tmp_path, "install", "--launchers", str(tmp_path / "plain"))
    assert status == 0
    assert sorted(os.listdir(tmp_path / "plain")) == sorted([MANIFEST, *names])


def test_console_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "cni.cli", "version"], capture_output=True, check=True, timeout=60)
    assert b"CNI spec 1.1.0" in out.stdout
