# SPDX-License-Identifier: Apache-2.0
"""The runtime library against what a busy or hostile node does to it (issue 9): corrupt
cache entries and cache directories, GC racing ADDs, identifiers at every length, control
characters in configs. host-local alone is the network here: it touches no namespace, so
its reservations are the attachment's state, and "nothing left" means no reservation, no
cache entry and no stray file.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cni.errors import CNIError
from cni.runtime import CNIConfig, RuntimeConf, conflist_from_bytes
from cni.runtime.conflist import NetworkConfigList

NETWORK = "hardnet"


@pytest.fixture
def world(our_bin: Path, tmp_path: Path) -> tuple[CNIConfig, NetworkConfigList, Path, Path]:
    """Our runtime on our host-local; returns it, the network, the cache and the store."""
    store = tmp_path / "store"
    conflist = {
        "cniVersion": "1.1.0",
        "name": NETWORK,
        # host-local called as the network's plugin reads the `ipam` key of its own config.
        "plugins": [{"type": "host-local", "ipam": {"ranges": [[{"subnet": "10.77.0.0/16"}]], "dataDir": str(store)}}],
    }
    runtime = CNIConfig(
        [str(our_bin)],
        cache_dir=str(tmp_path / "cache"),
        timeout=60,
        env={"CNI_NETNS_OVERRIDE": "1", "PATH": "/usr/bin"},
    )
    return runtime, conflist_from_bytes(json.dumps(conflist).encode()), tmp_path / "cache", store


def rt(cid: str = "c1", ifname: str = "eth0") -> RuntimeConf:
    return RuntimeConf(container_id=cid, netns="/proc/self/ns/net", ifname=ifname)


def held(store: Path) -> dict[str, str]:
    """Reservation file -> its content."""
    directory = store / NETWORK
    if not directory.exists():
        return {}
    return {
        p.name: p.read_bytes().decode()
        for p in directory.iterdir()
        if p.name not in ("lock", ".cni-index") and not p.name.startswith("last_reserved_ip.")
    }


def cache_files(cache: Path) -> list[str]:
    results = cache / "results"
    return sorted(os.listdir(results)) if results.is_dir() else []


# --- corruption table -----------------------------------------------------------------------

ENTRY = f"{NETWORK}-c1-eth0"


def _rewrite(field: str, value: Any) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        doc = json.loads(path.read_text())
        doc[field] = value
        path.write_text(json.dumps(doc))

    return corrupt


def _replace_with(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        path.unlink()
        make(path)

    return corrupt


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _directory_with_files(path: Path) -> None:
    path.mkdir()
    (path / "inner").write_text("x")


def _results_is_a_file(path: Path) -> None:
    results = path.parent
    for child in results.iterdir():
        child.unlink()
    results.rmdir()
    results.write_text("not a directory")


def _lock_is_a_directory(path: Path) -> None:
    lock = path.parent.parent / "lock"
    lock.unlink()
    lock.mkdir()
    (lock / "inner").write_text("x")


def _gate_is_a_symlink(path: Path) -> None:
    gate = path.parent.parent / "gc.lock"
    gate.unlink()
    gate.symlink_to("/nonexistent/elsewhere")


def _results_is_a_symlink(path: Path) -> None:
    results = path.parent
    elsewhere = results.parent / "elsewhere"
    results.rename(elsewhere)
    results.symlink_to(elsewhere)


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "empty": lambda p: _write(p, b""),
    "garbage": lambda p: _write(p, b"\x00\xff{not json"),
    "json-array": lambda p: _write(p, b"[1, 2]"),
    "directory": _replace_with(_directory_with_files),
    "symlink": _replace_with(lambda p: p.symlink_to("/etc/hostname")),
    "fifo": _replace_with(lambda p: os.mkfifo(p)),
    "kind-unknown": _rewrite("kind", "cniCacheV9"),
    "containerId-int": _rewrite("containerId", 5),
    "containerId-hostile": _rewrite("containerId", "../../x"),
    "ifName-list": _rewrite("ifName", ["eth0"]),
    "networkName-null": _rewrite("networkName", None),
    "netns-int": _rewrite("netns", 7),
    "config-int": _rewrite("config", 5),
    "config-not-base64": _rewrite("config", "!!!"),
    "cniArgs-string": _rewrite("cniArgs", "K=V"),
    "cniArgs-pairs-of-ints": _rewrite("cniArgs", [[1, 2]]),
    "capabilityArgs-list": _rewrite("capabilityArgs", ["portMappings"]),
    "capabilityArgs-string": _rewrite("capabilityArgs", "x"),
    "result-list": _rewrite("result", []),
    "result-unknown-version": _rewrite("result", {"cniVersion": "9.9.9", "ips": []}),
    "result-version-int": _rewrite("result", {"cniVersion": 5}),
    "result-ips-string": _rewrite("result", {"cniVersion": "1.1.0", "ips": "10.0.0.1"}),
    "results-dir-is-a-file": _results_is_a_file,
    "results-dir-is-a-symlink": _results_is_a_symlink,
    "lock-is-a-directory": _lock_is_a_directory,
    "gate-is-a-dangling-symlink": _gate_is_a_symlink,
}


@pytest.mark.parametrize("verb", ["DEL", "GC"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_cache_never_blocks_del_or_gc(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path], corruption: str, verb: str
) -> None:
    runtime, net, cache, store = world
    runtime.add_network_list(net, rt())
    assert len(held(store)) == 1
    CORRUPTIONS[corruption](cache / "results" / ENTRY)
    if verb == "DEL":
        runtime.del_network_list(net, rt())
        runtime.del_network_list(net, rt())  # and again: DEL stays idempotent
    else:
        runtime.gc_network_list(net, [])
    assert held(store) == {}, "the reservation was released"
    assert ENTRY not in cache_files(cache), "the entry is gone"
    assert not [n for n in cache_files(cache) if n.startswith(".tmp")]
    # And the network is usable again: ADD caches a readable entry.
    runtime.add_network_list(net, rt())
    assert runtime.get_cached_result(net, rt()) is not None


def test_gc_removes_unparseable_entries_and_stale_temporary_files(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path],
) -> None:
    runtime, net, cache, _ = world
    runtime.add_network_list(net, rt("keep"))
    results = cache / "results"
    (results / f"{NETWORK}-gone-eth0").write_text("{truncated")
    (results / ".tmp-0123456789abcdef").write_text("a writer was killed")
    (results / f"{NETWORK}-old-eth0.tmp4242").write_text("an older writer was killed")
    (results / "othernet-x-eth0").write_text("{not ours to judge")
    assert runtime.gc_network_list(net, [("keep", "eth0")]) == []
    assert cache_files(cache) == sorted([f"{NETWORK}-keep-eth0", "othernet-x-eth0"])


def test_entries_are_written_through_no_symlink(world: tuple[CNIConfig, NetworkConfigList, Path, Path]) -> None:
    """A symlink planted under an entry's name is replaced, never written through."""
    runtime, net, cache, _ = world
    target = cache.parent / "target"
    target.write_text("precious")
    (cache / "results").mkdir(parents=True)
    (cache / "results" / ENTRY).symlink_to(target)
    runtime.add_network_list(net, rt())
    assert target.read_text() == "precious"
    assert not (cache / "results" / ENTRY).is_symlink()
    assert stat.S_IMODE((cache / "results" / ENTRY).stat().st_mode) == 0o600


# --- GC against ADDs in flight ----------------------------------------------------------------


def test_gc_never_collects_attachments_added_after_it_was_called(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path],
) -> None:
    """Eight workers ADD while GCs run, each GC with the valid set of every attachment the
    caller knew when it called (a runtime knows a sandbox before it ADDs it, as containerd
    does; a set of only the returned ADDs races the caller's own bookkeeping: an ADD can
    return between the caller's snapshot and its GC call). No GC may remove an attachment
    whose ADD started after it was called; each GC finishes while the ADDs go on (it
    cannot be starved)."""
    runtime, net, cache, store = world
    known: set[tuple[str, str]] = set()
    returned: set[tuple[str, str]] = set()
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def adder(worker: int) -> None:
        n = 0
        while not stop.is_set():
            cid = f"w{worker}-{n}"
            with lock:
                known.add((cid, "eth0"))
            try:
                runtime.add_network_list(net, rt(cid))
            except BaseException as err:  # noqa: BLE001 - reported below
                failures.append(err)
                return
            with lock:
                returned.add((cid, "eth0"))
            n += 1

    workers = [threading.Thread(target=adder, args=(w,)) for w in range(8)]
    for t in workers:
        t.start()
    try:
        removed: list[tuple[str, str]] = []
        gc_times = []
        time.sleep(1.0)
        for _ in range(12):  # each GC has ADDs starting while it waits; a dozen make it sure
            time.sleep(0.1)
            with lock:
                valid = list(known)
            started = time.monotonic()
            removed += runtime.gc_network_list(net, valid)
            gc_times.append(time.monotonic() - started)
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=120)
    assert not failures, failures
    assert removed == []
    assert max(gc_times) < 60, gc_times  # a bound against starvation, not a speed target
    owners = sorted(content.split("\r\n")[0] for content in held(store).values())
    assert owners == sorted(cid for cid, _ in returned), "every ADD that returned still holds its address"
    assert len(cache_files(cache)) == len(returned)


# --- identifiers at the limits -----------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 64, 200, 236, 237, 245, 246, 251, 255, 256, 1000, 4096])
def test_container_ids_of_any_length_round_trip(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path], length: int
) -> None:
    runtime, net, cache, store = world
    cid = ("a" + "0123456789abcdef-._" * 216)[:length]
    result = runtime.add_network_list(net, rt(cid))
    assert runtime.get_cached_result(net, rt(cid)) == result
    (content,) = held(store).values()
    assert content == f"{cid}\r\neth0"
    runtime.check_network_list(net, rt(cid))
    runtime.del_network_list(net, rt(cid))
    assert held(store) == {}
    assert cache_files(cache) == []
    index = store / NETWORK / ".cni-index" / "attachments"
    assert os.listdir(index) == []
    assert all(len(name.encode()) <= 255 for name in os.listdir(store / NETWORK))


HOSTILE_IDS = ["", "-a", ".a", "a/b", "../../x", "a\0b", "a\nb", "a b", "a;b=c", "ä", "a:b", "a\x7f"]
HOSTILE_IFNAMES = ["", ".", "..", "a/b", "a:b", "eth 0", "eth\t0", "eth\x01", "eth\x7f", "e" * 16, "ü" * 8]


@pytest.mark.parametrize("verb", ["add", "check", "del"])
@pytest.mark.parametrize(("cid", "ifname"), [(c, "eth0") for c in HOSTILE_IDS] + [("c1", i) for i in HOSTILE_IFNAMES])
def test_hostile_identifiers_are_refused_before_anything_is_written(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path], cid: str, ifname: str, verb: str
) -> None:
    runtime, net, cache, store = world
    call = {"add": runtime.add_network_list, "check": runtime.check_network_list, "del": runtime.del_network_list}
    with pytest.raises(CNIError) as info:
        call[verb](net, rt(cid, ifname))
    assert info.value.code == 4, info.value
    assert not cache.exists() or cache_files(cache) == []
    assert not store.exists()


def test_netns_with_nul_is_refused(world: tuple[CNIConfig, NetworkConfigList, Path, Path]) -> None:
    runtime, net, cache, store = world
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(net, RuntimeConf(container_id="c1", netns="/proc/self/ns/net\0x"))
    assert info.value.code == 4
    assert not store.exists()
    assert cache_files(cache) == []


# --- control characters in configs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "patch"),
    [
        ("ipam.dataDir", lambda ipam, store: ipam.update(dataDir=f"{store}\0/x")),
        ("ipam.resolvConf", lambda ipam, store: ipam.update(resolvConf="/etc/resolv.conf\0x")),
        ("ipam.routes[0].dst", lambda ipam, store: ipam.update(routes=[{"dst": "10.0.0.0/8\0"}])),
        ("ipam.routes[0].gw", lambda ipam, store: ipam.update(routes=[{"dst": "10.0.0.0/8", "gw": "10.77.0.1\n"}])),
        ("ipam.dataDir", lambda ipam, store: ipam.update(dataDir=f"{store}\n/x")),
    ],
)
def test_control_characters_in_keys_are_refused_naming_the_key(
    world: tuple[CNIConfig, NetworkConfigList, Path, Path], where: str, patch: Callable[[dict[str, Any], Path], None]
) -> None:
    runtime, net, cache, store = world
    doc = json.loads(net.data)
    patch(doc["plugins"][0]["ipam"], store)
    broken = conflist_from_bytes(json.dumps(doc).encode())
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(broken, rt())
    assert info.value.code == 7, info.value
    assert where in info.value.msg
    assert not store.exists()
    assert cache_files(cache) == []


def test_free_form_args_may_hold_newlines_but_not_nul(world: tuple[CNIConfig, NetworkConfigList, Path, Path]) -> None:
    runtime, net, _, store = world
    doc = json.loads(net.data)
    doc["plugins"][0]["args"] = {"cni": {"note": "line one\nline two"}}
    runtime.add_network_list(conflist_from_bytes(json.dumps(doc).encode()), rt())
    doc["plugins"][0]["args"] = {"cni": {"note": "a\0b"}}
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(conflist_from_bytes(json.dumps(doc).encode()), rt("c2"))
    assert info.value.code == 7
    assert "args.cni.note" in info.value.msg
    assert len(held(store)) == 1
