# SPDX-License-Identifier: Apache-2.0
"""The plugin start-up path stays lean: no pydantic, no pyroute2, no heavy stdlib."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cni.plugins.registry import PLUGINS

HEAVY = (
    "pydantic",
    "pydantic_core",
    "pyroute2",
    "json",
    "re",
    "subprocess",
    "typing",
    "dataclasses",
    "logging",
    "enum",
    # Each of these costs 1-3 ms of a plugin's start-up here (contextlib pulls in
    # collections and functools); none is needed to answer a verb.
    "contextlib",
    "collections",
    "functools",
    "importlib",
    "select",
    # `os` alone is ~5 million instructions (2 ms): plugins use `posix` through cni._posix.
    "os",
)


def imported_modules(plugin: Path, env: dict[str, str], stdin: bytes) -> set[str]:
    interpreter = plugin.read_text().splitlines()[0][2:].split()[0]
    out = subprocess.run(
        [interpreter, "-IS", "-X", "importtime", str(plugin)],
        input=stdin,
        env=env,
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout
    names = set()
    for line in out.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("command", ["VERSION", "ADD", "DEL"])
def test_plugin_imports_nothing_heavy(plugin_dir: Path, command: str) -> None:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(plugin_dir),
    }
    conf = {"cniVersion": "1.1.0", "name": "n", "type": "echo"}
    names = imported_modules(plugin_dir / "echo", env, json.dumps(conf).encode())
    assert "cni.skel" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


@pytest.mark.parametrize("name", sorted(p.type for p in PLUGINS))
def test_shipped_plugins_import_nothing_heavy(our_bin: Path, name: str) -> None:
    names = imported_modules(our_bin / name, {"CNI_COMMAND": "VERSION"}, b"{}")
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_host_local_add_imports_nothing_heavy(our_bin: Path, tmp_path: Path) -> None:
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(our_bin),
    }
    conf = {
        "cniVersion": "1.1.0",
        "name": "n",
        "type": "host-local",
        "ipam": {"type": "host-local", "subnet": "10.1.0.0/24", "dataDir": str(tmp_path)},
    }
    names = imported_modules(our_bin / "host-local", env, json.dumps(conf).encode())
    assert "cni.plugins.host_local" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
