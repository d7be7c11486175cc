# SPDX-License-Identifier: Apache-2.0
"""Running IPAM plugins as processes (ours and Debian's) and reading host-local's store."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.env import cni_env


@dataclass
class Outcome:
    status: int
    json: Any
    stderr: str

    @property
    def code(self) -> int | None:
        return self.json.get("code") if self.status and isinstance(self.json, dict) else None

    def ips(self) -> list[str]:
        return [ip["address"] for ip in self.json.get("ips", [])]


def run_plugin(
    plugin: Path,
    command: str,
    conf: dict[str, Any],
    container_id: str = "c1",
    ifname: str = "eth0",
    cni_args: str = "",
    timeout: float = 60,
) -> Outcome:
    env = cni_env(command, container_id=container_id, ifname=ifname, path=plugin.parent, args=cni_args)
    out = subprocess.run(
        [str(plugin)], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=timeout, check=False
    )
    text = out.stdout.decode().strip()
    return Outcome(out.returncode, json.loads(text) if text else None, out.stderr.decode())


def host_local_conf(data_dir: Path, *, version: str = "1.0.0", name: str = "hlnet", **ipam: Any) -> dict[str, Any]:
    ipam.setdefault("ranges", [[{"subnet": "10.40.0.0/24"}]])
    return {
        "cniVersion": version,
        "name": name,
        "type": "bridge",
        "ipam": {"type": "host-local", "dataDir": str(data_dir), **ipam},
    }


def reservations(data_dir: Path, network: str = "hlnet") -> dict[str, str]:
    """Address -> file content, for every reservation file of `network`."""
    directory = data_dir / network
    if not directory.exists():
        return {}
    return {
        p.name: p.read_bytes().decode()
        for p in directory.iterdir()
        if p.name not in ("lock", ".cni-index") and not p.name.startswith(("last_reserved_ip.", ".cni-tmp-"))
    }
