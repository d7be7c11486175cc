# SPDX-License-Identifier: Apache-2.0
"""A test plugin on our SDK: records each call and answers predictably.

Config keys it understands:
- `debugDir`: each call writes `<debugDir>/<n>-<COMMAND>.json` with the CNI_* variables and
  the config it received (the side effect that failure tests check did not happen);
- `result`: what ADD returns when there is no prevResult (default: one address);
- `addIP`: an address ADD appends to prevResult (so chains show threading);
- `failWith`: `{"command": ..., "code": ..., "msg": ...}` makes that verb fail;
- `sleep`: seconds to sleep first (timeout tests), only for verb `sleepOn` when given;
- `spew`: bytes of junk to print.
"""

from __future__ import annotations

import sys
import time

from cni import skel
from cni._native import dumps
from cni.errors import CNIError

DEFAULT_RESULT = {
    "cniVersion": "1.1.0",
    "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/x"}],
    "ips": [{"address": "10.99.0.2/24", "gateway": "10.99.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.99.0.1"}],
    "dns": {"nameservers": ["10.99.0.1"]},
}


def _record(args: skel.CmdArgs) -> None:
    conf = args.conf
    if conf.get("sleep") and conf.get("sleepOn", args.command) == args.command:
        time.sleep(float(str(conf["sleep"])))
    if conf.get("spew"):
        sys.stdout.write("x" * int(str(conf["spew"])))
        sys.stdout.flush()
    debug_dir = conf.get("debugDir")
    if isinstance(debug_dir, str):
        import os  # only when recording: the SDK's own path must not need it

        env = {k: v for k, v in args.env.items() if k.startswith("CNI_")}
        n = len(os.listdir(debug_dir))
        with open(os.path.join(debug_dir, f"{n:04d}-{args.command}.json"), "w") as f:
            f.write(dumps({"env": env, "conf": conf}))
    fail = conf.get("failWith")
    if isinstance(fail, dict) and fail.get("command") == args.command:
        raise CNIError(str(fail.get("msg", "failed")), code=int(str(fail.get("code", 999))))


def add(args: skel.CmdArgs) -> object:
    _record(args)
    prev = args.conf.get("prevResult")
    if isinstance(prev, dict):
        result = dict(prev)
        result.setdefault("cniVersion", args.cni_version)
        if isinstance(args.conf.get("addIP"), str):
            ips = list(result.get("ips") or [])
            ips.append({"address": args.conf["addIP"]})
            result["ips"] = ips
        return result
    configured = args.conf.get("result")
    return configured if isinstance(configured, dict) else DEFAULT_RESULT


def record_only(args: skel.CmdArgs) -> None:
    _record(args)


def main() -> int:
    return skel.plugin_main(
        add=add, delete=record_only, check=record_only, gc=record_only, status=record_only, about="echo test plugin"
    )


if __name__ == "__main__":
    sys.exit(main())
