# SPDX-License-Identifier: Apache-2.0
"""What the tests need to know of this machine, and the one builder of CNI environments."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

TESTS = Path(__file__).parent.parent
REFERENCE_PLUGINS = Path("/usr/lib/cni")
GOPATH = Path("/usr/share/gocode")


def is_root() -> bool:
    return os.geteuid() == 0


def _can_make_netns() -> bool:
    if not is_root() or shutil.which("ip") is None:
        return False
    name = f"cniprobe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return made


CAN_NETNS = _can_make_netns()


def cni_env(
    command: str,
    *,
    container_id: str = "c1",
    netns: str = "/proc/self/ns/net",
    ifname: str = "eth0",
    path: str | Path = "",
    args: str = "",
    **extra: str,
) -> dict[str, str]:
    """The CNI_* variables of one invocation (CNI_NETNS_OVERRIDE set when the netns is ours)."""
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": str(path),
        "CNI_ARGS": args,
        "PATH": os.environ.get("PATH", ""),
    }
    if netns == "/proc/self/ns/net":
        env["CNI_NETNS_OVERRIDE"] = "1"
    env.update(extra)
    return env


def calls(debug_dir: Path) -> list[str]:
    """The commands the test plugin recorded, in order."""
    return [p.name.split("-", 1)[1].removesuffix(".json") for p in sorted(debug_dir.iterdir())]
