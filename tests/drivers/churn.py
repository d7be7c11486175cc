# SPDX-License-Identifier: Apache-2.0
"""Churn through the runtime library, run inside a node namespace by tests/netns/test_churn.py.

    churn.py MODE WORKERS OPS CONFLIST CNI_PATH CACHE_DIR POD_NETNS...

MODE is `threads` (one CNIConfig shared by every thread, as a runtime daemon uses it) or
`processes` (forked workers). Each worker owns one pod namespace and loops ADD, a check
that the pod's eth0 holds the address the answer named, DEL; the last ADD of each worker
stays. Then GC with the live set. Prints one JSON report: failures, answers that named an
address the pod does not hold, the live attachments, what GC removed, and the count of
this process's open fds before and after.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cni.runtime import CNIConfig, RuntimeConf, conflist_from_bytes


def pod_address(netns: str) -> str:
    out = subprocess.run(
        ["ip", "-n", os.path.basename(netns), "-4", "-o", "addr", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    fields = out.stdout.split()
    return fields[3] if len(fields) > 3 else ""


def worker(args: tuple[int, int, str, str, str, str]) -> dict[str, Any]:
    index, ops, conflist_path, cni_path, cache_dir, netns = args
    with open(conflist_path, "rb") as f:
        network = conflist_from_bytes(f.read())
    runtime = RUNTIME.get("shared") or CNIConfig([cni_path], cache_dir=cache_dir, timeout=60)
    report: dict[str, Any] = {"failures": [], "mismatches": [], "live": {}}
    done = 0
    n = 0
    while True:
        cid = f"w{index}n{n}"
        attachment = RuntimeConf(container_id=cid, netns=netns, ifname="eth0")
        try:
            result = runtime.add_network_list(network, attachment)
            done += 1
            answered = result["ips"][0]["address"]
            held = pod_address(netns)
            if held != answered:
                report["mismatches"].append({"cid": cid, "answered": answered, "held": held})
            if done >= ops - 1:
                report["live"][cid] = answered
                return report
            runtime.del_network_list(network, attachment)
            done += 1
        except Exception as err:  # noqa: BLE001 - every failure is reported
            report["failures"].append(f"{cid}: {type(err).__name__}: {err}")
            if len(report["failures"]) > 5:
                return report
        n += 1


RUNTIME: dict[str, CNIConfig] = {}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    mode, workers, ops, conflist_path, cni_path, cache_dir, *pods = sys.argv[1:]
    count, total = int(workers), int(ops)
    jobs = [(i, total // count, conflist_path, cni_path, cache_dir, pods[i]) for i in range(count)]
    fds_before = fd_count()
    threads_before = threading.active_count()
    started = time.monotonic()
    if mode == "threads":
        RUNTIME["shared"] = CNIConfig([cni_path], cache_dir=cache_dir, timeout=60)
        with ThreadPoolExecutor(count) as pool:
            reports = list(pool.map(worker, jobs))
    else:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            reports = pool.map(worker, jobs)
    elapsed = time.monotonic() - started
    live = {cid: ip for r in reports for cid, ip in r["live"].items()}
    with open(conflist_path, "rb") as f:
        network = conflist_from_bytes(f.read())
    removed = CNIConfig([cni_path], cache_dir=cache_dir, timeout=60).gc_network_list(
        network, [(cid, "eth0") for cid in live]
    )
    print(
        json.dumps(
            {
                "failures": [x for r in reports for x in r["failures"]],
                "mismatches": [x for r in reports for x in r["mismatches"]],
                "live": live,
                "removed": removed,
                "elapsed": elapsed,
                "fds_before": fds_before,
                "fds_after": fd_count(),
                "threads_left": threading.active_count() - threads_before,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
