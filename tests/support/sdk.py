# SPDX-License-Identifier: Apache-2.0
"""Running a plugin made of recording handlers in this process, through the SDK."""

from __future__ import annotations

import io
import json
from typing import Any

from cni import skel

GOOD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "ctr1",
    "CNI_NETNS": "/proc/self/ns/net",
    "CNI_NETNS_OVERRIDE": "1",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}
GOOD_CONF = {"cniVersion": "1.1.0", "name": "net1", "type": "echo"}
PREV = {"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.2/24"}]}
RESULT = {"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1"}]}


class Run:
    """One in-process plugin run: exit status, parsed stdout and what the handlers saw."""

    def __init__(self, env: dict[str, str], stdin: bytes, **handlers: Any) -> None:
        self.calls: list[skel.CmdArgs] = []

        def record(result: object = None) -> Any:
            def handler(args: skel.CmdArgs) -> object:
                self.calls.append(args)
                return result

            return handler

        out, err = io.StringIO(), io.StringIO()
        defaults = {"add": record(RESULT), "delete": record(), "check": record(), "gc": record(), "status": record()}
        defaults.update(handlers)
        self.status = skel.plugin_main(
            env=env, stdin=io.BytesIO(stdin), stdout=out, stderr=err, about="test plugin", **defaults
        )
        self.stdout = out.getvalue()
        self.stderr = err.getvalue()
        self.json = json.loads(self.stdout) if self.stdout.strip() else None

    @property
    def code(self) -> int | None:
        return self.json.get("code") if self.json and self.status == 1 else None


def run(env_changes: dict[str, str | None] | None = None, conf: object = GOOD_CONF, **handlers: Any) -> Run:
    env = dict(GOOD_ENV)
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    return Run(env, stdin, **handlers)
