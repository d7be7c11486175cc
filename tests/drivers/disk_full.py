# SPDX-License-Identifier: Apache-2.0
"""Disk-full cases, run by tests/ipam/test_disk_full.py under `unshare --mount` (a private
mount namespace, so the small tmpfs is seen by nothing else on the machine).

    disk_full.py OUR_BIN WORKDIR

Mounts a 512 KiB tmpfs at WORKDIR/full, then for each number of free pages from 0 to 5
runs host-local ADD with its store there, and the runtime library ADD with its cache there
(the store elsewhere); then DELs everything with no page free. Prints one JSON report of
what each step returned and left.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from typing import Any

from cni.errors import CNIError
from cni.runtime import CNIConfig, RuntimeConf, conflist_from_bytes

PAGE = 4096


def set_free_pages(mount: str, pages: int) -> None:
    """Fills the tmpfs, then frees exactly `pages` pages."""
    filler = os.path.join(mount, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * PAGE)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                break
        size = os.fstat(fd).st_size // PAGE * PAGE
        os.ftruncate(fd, max(0, size - pages * PAGE))
    finally:
        os.close(fd)


def listing(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(os.listdir(directory))


def host_local(our_bin: str, command: str, data_dir: str, cid: str) -> dict[str, Any]:
    conf = {
        "cniVersion": "1.1.0",
        "name": "fullnet",
        "type": "host-local",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": data_dir},
    }
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": our_bin,
    }
    out = subprocess.run(
        [os.path.join(our_bin, "host-local")], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=60
    )
    answer = json.loads(out.stdout) if out.stdout.strip() else None
    return {"status": out.returncode, "answer": answer}


def reservations(data_dir: str) -> list[str]:
    names = listing(os.path.join(data_dir, "fullnet"))
    return [n for n in names if n[0].isdigit()]


def main() -> int:
    our_bin, workdir = sys.argv[1:]
    mount = os.path.join(workdir, "full")
    os.makedirs(mount, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mount], check=True)
    report: dict[str, Any] = {"host_local": [], "runtime": [], "del": {}}

    # host-local with its store on the full disk.
    store = os.path.join(mount, "store")
    for pages in range(6):
        set_free_pages(mount, pages)
        before = reservations(store)
        outcome = host_local(our_bin, "ADD", store, f"hl{pages}")
        outcome.update(
            pages=pages,
            before=before,
            after=reservations(store),
            strays=[n for n in listing(os.path.join(store, "fullnet")) if n.startswith(".cni-tmp-")],
        )
        report["host_local"].append(outcome)

    # The runtime with its cache on the full disk and the store elsewhere.
    elsewhere = os.path.join(workdir, "store")
    conflist = {
        "cniVersion": "1.1.0",
        "name": "fullnet",
        "plugins": [
            {
                "type": "host-local",
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "dataDir": elsewhere},
            }
        ],
    }
    network = conflist_from_bytes(json.dumps(conflist).encode())
    cache = os.path.join(mount, "cache")
    runtime = CNIConfig([our_bin], cache_dir=cache, timeout=60, env={"CNI_NETNS_OVERRIDE": "1"})
    for pages in range(4):
        set_free_pages(mount, pages)
        step: dict[str, Any] = {"pages": pages}
        try:
            runtime.add_network_list(network, RuntimeConf(f"rt{pages}", "/proc/self/ns/net", "eth0"))
            step["code"] = 0
        except CNIError as err:
            step["code"] = err.code
            step["msg"] = err.msg
        step["store"] = reservations(elsewhere)
        step["cache"] = listing(os.path.join(cache, "results"))
        report["runtime"].append(step)

    # Every DEL with not one page free.
    set_free_pages(mount, 0)
    for cid in [f"hl{p}" for p in range(6)]:
        report["del"][cid] = host_local(our_bin, "DEL", store, cid)["status"]
    for pages in range(4):
        cid = f"rt{pages}"
        try:
            runtime.del_network_list(network, RuntimeConf(cid, "/proc/self/ns/net", "eth0"))
            report["del"][cid] = 0
        except CNIError as err:
            report["del"][cid] = err.code
    report["after_del"] = {
        "store": reservations(store),
        "elsewhere": reservations(elsewhere),
        "cache": listing(os.path.join(cache, "results")),
    }
    # With room again, the store is consistent: ADD gets the first address back.
    os.unlink(os.path.join(mount, "filler"))
    report["after_room"] = host_local(our_bin, "ADD", store, "again")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
