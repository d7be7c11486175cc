# SPDX-License-Identifier: Apache-2.0
"""The host-local plugin as a process: ranges, requests, store format, GC, STATUS, CHECK."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import host_local_conf, reservations, run_plugin


@pytest.fixture
def hl(our_bin: Path) -> Path:
    return our_bin / "host-local"


def test_allocates_round_robin_across_v4_and_v6_sets(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(
        tmp_path,
        ranges=[
            [{"subnet": "10.40.0.0/29"}],
            [{"subnet": "fd40::/120", "rangeStart": "fd40::10", "rangeEnd": "fd40::12"}],
        ],
        routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd40::1"}],
    )
    first = run_plugin(hl, "ADD", conf, "c1")
    assert first.status == 0, first.json
    assert first.json == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "10.40.0.2/29", "gateway": "10.40.0.1"}, {"address": "fd40::10/120", "gateway": "fd40::1"}],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd40::1"}],
    }
    assert run_plugin(hl, "ADD", conf, "c2").ips() == ["10.40.0.3/29", "fd40::11/120"]
    assert run_plugin(hl, "DEL", conf, "c1").status == 0
    # Round-robin: the released .2 is not handed out again until the range wraps.
    assert run_plugin(hl, "ADD", conf, "c3").ips() == ["10.40.0.4/29", "fd40::12/120"]
    assert run_plugin(hl, "ADD", conf, "c4").ips() == ["10.40.0.5/29", "fd40::10/120"]


def test_range_set_spans_ranges_and_legacy_subnet_comes_first(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(
        tmp_path,
        subnet="10.41.0.0/24",
        rangeStart="10.41.0.100",
        rangeEnd="10.41.0.100",
        ranges=[[{"subnet": "10.42.0.0/30"}, {"subnet": "10.43.0.0/30"}]],
    )
    assert run_plugin(hl, "ADD", conf, "a").ips() == ["10.41.0.100/24", "10.42.0.2/30"]
    assert run_plugin(hl, "ADD", conf, "b").code == 11  # the legacy range has one address
    conf["ipam"].pop("subnet")
    assert run_plugin(hl, "ADD", conf, "b").ips() == ["10.43.0.2/30"]
    assert run_plugin(hl, "ADD", conf, "c").code == 11


def test_runtime_ip_ranges_are_prepended(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    conf["runtimeConfig"] = {"ipRanges": [[{"subnet": "10.50.0.0/24", "gateway": "10.50.0.254"}]]}
    assert run_plugin(hl, "ADD", conf).json["ips"] == [
        {"address": "10.50.0.1/24", "gateway": "10.50.0.254"},
        {"address": "10.40.0.2/24", "gateway": "10.40.0.1"},
    ]


@pytest.mark.parametrize(
    ("how", "value"),
    [("cni_args", "IgnoreUnknown=1;IP=10.40.0.77"), ("args", ["10.40.0.77"]), ("runtime", ["10.40.0.77/24"])],
)
def test_requested_ip_from_each_source(hl: Path, tmp_path: Path, how: str, value: Any) -> None:
    conf = host_local_conf(tmp_path)
    cni_args = ""
    if how == "cni_args":
        cni_args = value
    elif how == "args":
        conf["args"] = {"cni": {"ips": value}}
    else:
        conf["runtimeConfig"] = {"ips": value}
    assert run_plugin(hl, "ADD", conf, cni_args=cni_args).ips() == ["10.40.0.77/24"]
    assert reservations(tmp_path) == {"10.40.0.77": "c1\r\neth0"}


@pytest.mark.parametrize(
    "ip",
    ["10.41.0.5", "10.40.0.1", "10.40.0.0", "10.40.0.255", "fd00::5", "10.40.0.9"],
    ids=["outside", "gateway", "network", "broadcast", "wrong-family", "before-range-start"],
)
def test_s5_requested_ip_refused_and_nothing_reserved(hl: Path, tmp_path: Path, ip: str) -> None:
    conf = host_local_conf(tmp_path, ranges=[[{"subnet": "10.40.0.0/24", "rangeStart": "10.40.0.10"}]])
    out = run_plugin(hl, "ADD", conf, cni_args=f"IgnoreUnknown=1;IP={ip}")
    assert out.status == 1
    assert out.code == 7
    assert ip in out.json["msg"]
    assert reservations(tmp_path) == {}


def test_s5_requested_ip_taken(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path, ranges=[[{"subnet": "10.40.0.0/24"}], [{"subnet": "fd40::/64"}]])
    assert run_plugin(hl, "ADD", conf, "a", cni_args="IP=10.40.0.8").status == 0
    out = run_plugin(hl, "ADD", conf, "b", cni_args="IP=10.40.0.8")
    assert (out.status, out.code) == (1, 7)
    assert "not available" in out.json["msg"]
    # The IPv6 set came after; nothing of b's may remain.
    assert sorted(reservations(tmp_path)) == ["10.40.0.8", "fd40::2"]


@pytest.mark.parametrize(
    ("ranges", "words"),
    [
        ([[{"subnet": "10.40.0.0/24"}], [{"subnet": "10.40.0.128/25"}]], "range set 0 overlaps with 1"),
        ([[{"subnet": "10.40.0.0/24"}, {"subnet": "10.40.0.0/25"}]], "overlaps"),
        ([[{"subnet": "10.40.0.0/31"}]], "too small"),
        ([[{"subnet": "10.40.0.0/32"}]], "too small"),
        ([[{"subnet": "10.40.0.1/24"}]], "host bits"),
        ([[{"subnet": "10.40.0.0/24", "rangeStart": "10.41.0.1"}]], "rangeStart 10.41.0.1"),
        ([[{"subnet": "10.40.0.0/24", "rangeStart": "10.40.0.9", "rangeEnd": "10.40.0.8"}]], "after rangeEnd"),
        ([[{"subnet": "10.40.0.0/24"}, {"subnet": "fd40::/64"}]], "mixed"),
        ([[{"subnet": "banana"}]], "banana"),
        ([[{"rangeStart": "10.0.0.1"}]], "needs subnet"),
        ([], "no IP ranges"),
        ("10.40.0.0/24", "ipam.ranges '10.40.0.0/24' must be a list"),
    ],
)
def test_c4_invalid_ranges_are_code_7_and_reserve_nothing(hl: Path, tmp_path: Path, ranges: Any, words: str) -> None:
    out = run_plugin(hl, "ADD", host_local_conf(tmp_path, ranges=ranges))
    assert (out.status, out.code) == (1, 7), out.json
    assert words in out.json["msg"]
    assert reservations(tmp_path) == {}


def test_one_address_per_family_before_0_3_0(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(
        tmp_path, version="0.2.0", ranges=[[{"subnet": "10.40.0.0/24"}], [{"subnet": "10.41.0.0/24"}]]
    )
    out = run_plugin(hl, "ADD", conf)
    assert out.code == 7
    assert "more than 1 address per family" in out.json["msg"]
    conf["cniVersion"] = "0.2.0"
    conf["ipam"]["ranges"] = [[{"subnet": "10.40.0.0/24"}]]
    assert run_plugin(hl, "ADD", conf).json == {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.40.0.2/24", "gateway": "10.40.0.1"},
    }


def test_missing_ipam_is_code_7(hl: Path, tmp_path: Path) -> None:
    network = "cnitest-no-ipam"
    out = run_plugin(hl, "ADD", {"cniVersion": "1.0.0", "name": network, "type": "host-local"})
    assert (out.code, out.json["msg"]) == (7, "IPAM config missing 'ipam' key")
    assert not Path("/var/lib/cni/networks", network).exists(), "no store was created in the default dataDir"


def test_resolv_conf_becomes_dns(hl: Path, tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# comment\nnameserver 10.0.0.53\nnameserver fd00::53\nsearch a.test b.test\n"
        "domain a.test\noptions ndots:2 timeout:1\n"
    )
    out = run_plugin(hl, "ADD", host_local_conf(tmp_path, resolvConf=str(resolv)))
    assert out.json["dns"] == {
        "nameservers": ["10.0.0.53", "fd00::53"],
        "search": ["a.test", "b.test"],
        "domain": "a.test",
        "options": ["ndots:2", "timeout:1"],
    }


def test_store_format_and_modes(hl: Path, tmp_path: Path) -> None:
    """The reference's format; S11: modes hold under `umask 000`, for every directory made
    (a data dir that does not exist yet included)."""
    data_dir = tmp_path / "var" / "lib" / "cni"
    os.umask(0)
    try:
        assert run_plugin(hl, "ADD", host_local_conf(data_dir), "ctr-1", "net0").status == 0
    finally:
        os.umask(0o022)
    for made, mode in (
        (tmp_path / "var", 0o755),
        (data_dir, 0o755),
        (data_dir / "hlnet", 0o755),
        (data_dir / "hlnet" / ".cni-index", 0o700),
        (data_dir / "hlnet" / ".cni-index" / "attachments", 0o700),
    ):
        assert stat.S_IMODE(made.stat().st_mode) == mode, made
    for index_file in (data_dir / "hlnet" / ".cni-index").rglob("*"):
        if index_file.is_file():
            assert stat.S_IMODE(index_file.stat().st_mode) == 0o600, index_file
    directory = data_dir / "hlnet"
    assert (directory / "10.40.0.2").read_bytes() == b"ctr-1\r\nnet0"
    assert (directory / "last_reserved_ip.0").read_text() == "10.40.0.2"
    assert (directory / "lock").exists()
    for name in ("10.40.0.2", "last_reserved_ip.0", "lock"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    extra = [p.name for p in directory.iterdir() if p.name.startswith(".")]
    assert extra == [".cni-index"], "nothing but the index (which goes when the store goes) in the reference's dir"


def test_duplicate_add_and_idempotent_del(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    assert run_plugin(hl, "ADD", conf).status == 0
    dup = run_plugin(hl, "ADD", conf)
    assert dup.status == 1
    assert "duplicate allocation is not allowed" in dup.json["msg"]
    assert run_plugin(hl, "ADD", conf, ifname="eth1").ips() == ["10.40.0.3/24"], "another interface is fine"
    for _ in range(2):
        assert run_plugin(hl, "DEL", conf).status == 0
    assert run_plugin(hl, "DEL", conf, "never-added").status == 0
    assert reservations(tmp_path) == {"10.40.0.3": "c1\r\neth1"}


def test_check(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path)
    result = run_plugin(hl, "ADD", conf).json
    conf["prevResult"] = result
    assert run_plugin(hl, "CHECK", conf).status == 0
    (tmp_path / "hlnet" / "10.40.0.2").unlink()
    out = run_plugin(hl, "CHECK", conf)
    assert out.status == 1
    assert "failed to find address" in out.json["msg"]
    other = {**conf, "prevResult": {**result, "ips": [{"address": "10.40.0.9/24"}]}}
    assert run_plugin(hl, "ADD", host_local_conf(tmp_path), "c2").status == 0
    assert run_plugin(hl, "CHECK", other, "c2").status == 1


def gc_conf(data_dir: Path, valid: list[dict[str, str]]) -> dict[str, Any]:
    conf = host_local_conf(data_dir, version="1.1.0")
    conf["cni.dev/valid-attachments"] = valid
    return conf


def test_gc_releases_stale_ownerless_and_stray(hl: Path, tmp_path: Path) -> None:
    """F2/F9: after a simulated reboot, GC with valid={X} keeps X and frees the rest."""
    conf = host_local_conf(tmp_path, version="1.1.0")
    for cid in ("keep", "gone1", "gone2"):
        assert run_plugin(hl, "ADD", conf, cid).status == 0
    directory = tmp_path / "hlnet"
    (directory / "10.40.0.50").write_bytes(b"")  # a crash of another implementation
    (directory / "10.40.0.51").write_bytes(b"legacy-keep")  # old format: ID only
    (directory / ".cni-tmp-4242").write_bytes(b"x\r\ny")  # our own interrupted write
    out = run_plugin(
        hl,
        "GC",
        gc_conf(
            tmp_path, [{"containerID": "keep", "ifname": "eth0"}, {"containerID": "legacy-keep", "ifname": "eth0"}]
        ),
    )
    assert out.status == 0, out.json
    assert reservations(tmp_path) == {"10.40.0.2": "keep\r\neth0", "10.40.0.51": "legacy-keep"}
    assert not (directory / ".cni-tmp-4242").exists()
    # The index followed: the freed addresses are handed out again, and DEL finds what remains.
    assert run_plugin(hl, "DEL", conf, "legacy-keep").status == 0
    assert reservations(tmp_path) == {"10.40.0.2": "keep\r\neth0"}


def test_gc_with_nothing_valid_frees_everything(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path, version="1.1.0")
    run_plugin(hl, "ADD", conf, "a")
    assert run_plugin(hl, "GC", gc_conf(tmp_path, [])).status == 0
    assert reservations(tmp_path) == {}


def test_status_reports_exhaustion(hl: Path, tmp_path: Path) -> None:
    conf = host_local_conf(tmp_path, version="1.1.0", ranges=[[{"subnet": "10.40.0.0/30"}]])
    assert run_plugin(hl, "STATUS", conf).status == 0
    assert run_plugin(hl, "ADD", conf, "a").ips() == ["10.40.0.2/30"]
    out = run_plugin(hl, "STATUS", conf)
    assert (out.status, out.code) == (1, 50)
    assert "no free addresses in range set 0" in out.json["msg"]
    run_plugin(hl, "DEL", conf, "a")
    assert run_plugin(hl, "STATUS", conf).status == 0


def test_s2_network_name_cannot_escape_data_dir(hl: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    conf = host_local_conf(data, name="../../pwn")
    out = run_plugin(hl, "ADD", conf)
    assert out.code == 7
    assert not (tmp_path / "pwn").exists()
    assert not data.exists()


def test_s4_planted_symlinks(hl: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("untouched")
    directory = tmp_path / "hlnet"
    directory.mkdir()
    (directory / "10.40.0.2").symlink_to(canary)
    out = run_plugin(hl, "ADD", host_local_conf(tmp_path))
    assert out.ips() == ["10.40.0.3/24"], "a planted name counts as taken and is never followed"
    assert canary.read_text() == "untouched"
    (directory / "lock").unlink()
    (directory / "lock").symlink_to(canary)
    out = run_plugin(hl, "ADD", host_local_conf(tmp_path), "c2")
    assert (out.status, out.code) == (1, 5)
    assert "lock" in out.json["msg"]
    assert canary.read_text() == "untouched"


def test_index_missing_or_stale_is_rebuilt(hl: Path, tmp_path: Path) -> None:
    """The index is a cache: delete it, or change the directory behind its back, and the
    files are read again."""
    import shutil

    conf = host_local_conf(tmp_path)
    assert run_plugin(hl, "ADD", conf, "a").status == 0
    shutil.rmtree(tmp_path / "hlnet" / ".cni-index")
    assert run_plugin(hl, "ADD", conf, "b").ips() == ["10.40.0.3/24"]
    assert run_plugin(hl, "DEL", conf, "a").status == 0
    # A reservation written by someone else (the reference plugin, a restore from backup).
    (tmp_path / "hlnet" / "10.40.0.4").write_bytes(b"c\r\neth0")
    assert run_plugin(hl, "ADD", conf, "d").ips() == ["10.40.0.5/24"]
    assert run_plugin(hl, "DEL", conf, "c").status == 0
    assert reservations(tmp_path) == {"10.40.0.3": "b\r\neth0", "10.40.0.5": "d\r\neth0"}


def test_a_state_file_a_crash_cut_short_is_not_trusted(hl: Path, tmp_path: Path) -> None:
    """The index's state is rewritten in place: a write cut short can leave the new stamp
    over the older pool (here: one saying the range is full after its second address was
    freed). Its checksum fails, and the reservation files decide."""
    two = {"subnet": "10.40.0.0/24", "rangeStart": "10.40.0.2", "rangeEnd": "10.40.0.3"}
    conf = host_local_conf(tmp_path, ranges=[[two]])
    state = tmp_path / "hlnet" / ".cni-index" / "state"
    assert run_plugin(hl, "ADD", conf, "a").status == 0
    assert run_plugin(hl, "ADD", conf, "b").status == 0
    full_pool = state.read_bytes().partition(b"\n")[2]
    assert run_plugin(hl, "DEL", conf, "b").status == 0
    header, _, pool = state.read_bytes().partition(b"\n")
    assert pool != full_pool
    state.write_bytes(header + b"\n" + full_pool)
    assert run_plugin(hl, "ADD", conf, "c").ips() == ["10.40.0.3/24"]
    assert reservations(tmp_path) == {"10.40.0.2": "a\r\neth0", "10.40.0.3": "c\r\neth0"}


@pytest.mark.parametrize("tmpfile", [True, False], ids=["O_TMPFILE", "named-temp-fallback"])
def test_reservations_appear_whole_and_leave_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfile: bool
) -> None:
    """Both ways of creating a reservation (the unnamed file, and the named temporary file
    used where O_TMPFILE is unsupported): content whole, mode 0600, nothing else left,
    and an existing name is never overwritten."""
    import errno

    from cni.ipam.store import DiskStore, Owner

    if not tmpfile:
        import posix

        real_open = posix.open

        def no_tmpfile(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_TMPFILE == os.O_TMPFILE:
                raise OSError(errno.EOPNOTSUPP, "O_TMPFILE unsupported here")
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(posix, "open", no_tmpfile)
    owner = Owner("c1", "eth0")
    with DiskStore("hlnet", str(tmp_path)) as store:
        assert store.reserve("10.40.0.7", owner)
        assert not store.reserve("10.40.0.7", Owner("c2", "eth0"))
        store.record(owner, ["10.40.0.7"])
    directory = tmp_path / "hlnet"
    assert (directory / "10.40.0.7").read_bytes() == b"c1\r\neth0"
    assert stat.S_IMODE((directory / "10.40.0.7").stat().st_mode) == 0o600
    assert sorted(os.listdir(directory)) == [".cni-index", "10.40.0.7", "lock"]
    assert os.listdir(directory / ".cni-index" / "attachments") == ["c1:eth0"]
