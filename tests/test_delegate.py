# SPDX-License-Identifier: Apache-2.0
"""Delegation helpers: same environment and stdin, DEL after a failed ADD, safe lookup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cni import delegate
from cni.errors import CNIError, InvalidNetworkConfig
from cni.invoke import find_in_path
from cni.netconf import split_path
from tests.support.env import calls


def env(plugin_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": f"relative:{plugin_dir}:",
        "CNI_ARGS": "IgnoreUnknown=1",
        **extra,
    }


def stdin(debug_dir: Path, **extra: Any) -> bytes:
    conf = {
        "cniVersion": "1.1.0",
        "name": "n",
        "type": "bridge",
        "ipam": {"type": "echo"},
        "debugDir": str(debug_dir),
        **extra,
    }
    return json.dumps(conf).encode()


def test_add_gets_same_env_and_whole_stdin(plugin_dir: Path, debug_dir: Path) -> None:
    data = stdin(debug_dir)
    result: dict[str, Any] = delegate.delegate_add("echo", data, env(plugin_dir))
    assert result["ips"][0]["address"] == "10.99.0.2/24"
    seen = json.loads(next(debug_dir.iterdir()).read_text())
    assert seen["conf"] == json.loads(data), "the delegate gets the complete config"
    assert seen["env"]["CNI_ARGS"] == "IgnoreUnknown=1"
    assert seen["env"]["CNI_COMMAND"] == "ADD"


@pytest.mark.parametrize("verb", ["del", "check", "gc", "status"])
def test_other_verbs_change_only_the_command(plugin_dir: Path, debug_dir: Path, verb: str) -> None:
    extras: dict[str, dict[str, Any]] = {
        "check": {"prevResult": {"cniVersion": "1.1.0"}},
        "gc": {"cni.dev/valid-attachments": []},
    }
    extra = extras.get(verb, {})
    getattr(delegate, f"delegate_{verb}")("echo", stdin(debug_dir, **extra), env(plugin_dir))
    assert calls(debug_dir) == [verb.upper()]


def test_failed_add_is_followed_by_del(plugin_dir: Path, debug_dir: Path) -> None:
    data = stdin(debug_dir, failWith={"command": "ADD", "code": 11, "msg": "range full"})
    with pytest.raises(CNIError) as info:
        delegate.delegate_add("echo", data, env(plugin_dir))
    assert (info.value.code, info.value.msg) == (11, "range full")
    assert calls(debug_dir) == ["ADD", "DEL"]


@pytest.mark.parametrize("plugin_type", ["../echo", "/bin/true", "..", ".", "a\\b", "ec\0ho", ""])
def test_s1_delegate_type_cannot_leave_cni_path(plugin_dir: Path, debug_dir: Path, plugin_type: str) -> None:
    with pytest.raises(InvalidNetworkConfig):
        delegate.delegate_add(plugin_type, stdin(debug_dir), env(plugin_dir))
    assert calls(debug_dir) == []


def test_lookup_uses_absolute_directories_only(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(plugin_dir)
    assert split_path(f"::bin:.:{plugin_dir}") == [str(plugin_dir)]
    with pytest.raises(InvalidNetworkConfig, match="failed to find plugin 'echo'"):
        find_in_path("echo", ["", ".", "bin"])
    assert find_in_path("echo", ["/nonexistent", str(plugin_dir)]) == str(plugin_dir / "echo")


def test_our_own_executables_run_in_process_others_are_execd(our_bin: Path, plugin_dir: Path, tmp_path: Path) -> None:
    """The manifest of `cni install`, not the executable's text, says what is ours: a
    native shim (here a copy of /bin/true put in the launcher's place and recorded in the
    manifest) is recognised, while a launcher of another installation, or one replaced
    after installing, is not."""
    import shutil

    from cni.plugins.registry import MANIFEST, file_identity, installed_type

    assert installed_type(str(our_bin / "host-local")) == "host-local"
    assert installed_type(str(plugin_dir / "echo")) is None  # a test plugin: no manifest entry
    assert installed_type("/bin/sh") is None
    # A shim-like executable: not a Python launcher at all, recorded by the manifest.
    shim_dir = tmp_path / "shim"
    shutil.copytree(our_bin, shim_dir)
    shutil.copy2("/bin/true", shim_dir / "host-local")
    manifest = json.loads((shim_dir / MANIFEST).read_text())
    manifest["plugins"]["host-local"]["identity"] = file_identity(os.stat(shim_dir / "host-local"))
    (shim_dir / MANIFEST).write_text(json.dumps(manifest))
    assert installed_type(str(shim_dir / "host-local")) == "host-local"
    # Delegation through it runs in-process (exec'd, /bin/true would print no result).
    conf = {
        "cniVersion": "1.1.0",
        "name": "shimnet",
        "type": "bridge",
        "ipam": {"type": "host-local", "subnet": "10.32.0.0/24", "dataDir": str(tmp_path / "store")},
    }
    environment = {**env(our_bin), "CNI_PATH": str(shim_dir)}
    result: dict[str, Any] = delegate.delegate_add("host-local", json.dumps(conf).encode(), environment)
    assert result["ips"][0]["address"] == "10.32.0.2/24"
    # The same executables, but the manifest names another installation of the package.
    manifest["installation"] = "/opt/another/site-packages"
    (shim_dir / MANIFEST).write_text(json.dumps(manifest))
    assert installed_type(str(shim_dir / "host-local")) is None
    # Replaced after installing (the reference's package upgraded over ours): not ours.
    other = tmp_path / "other"
    shutil.copytree(our_bin, other)
    (other / "host-local").unlink()
    shutil.copy2(our_bin / "host-local", other / "host-local")
    assert installed_type(str(other / "host-local")) is None


def test_in_process_delegate_behaves_like_the_process(our_bin: Path, tmp_path: Path) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "inproc",
        "type": "bridge",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.31.0.0/24"}]], "dataDir": str(tmp_path)},
    }
    environment = env(our_bin)
    data = json.dumps(conf).encode()
    result: dict[str, Any] = delegate.delegate_add("host-local", data, environment)
    assert result["ips"][0]["address"] == "10.31.0.2/24"
    with pytest.raises(CNIError) as info:
        delegate.delegate_add("host-local", data, environment)  # duplicate: the plugin's own error
    assert "duplicate allocation" in info.value.msg
    delegate.delegate_del("host-local", data, environment)
    assert sorted(p.name for p in (tmp_path / "inproc").iterdir()) == [".cni-index", "last_reserved_ip.0", "lock"]
