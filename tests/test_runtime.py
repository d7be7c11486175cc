# SPDX-License-Identifier: Apache-2.0
"""The runtime library with our test plugin: loading, chaining, cache, GC, STATUS, bounds."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cni.errors import CNIError, IncompatibleCNIVersion, InvalidEnvironmentVariables, InvalidNetworkConfig
from cni.runtime import CNIConfig, CNIErrorGroup, RuntimeConf, conflist_from_bytes, load_dir
from cni.runtime.conflist import negotiate_version
from tests.support.env import calls

SELF_NS = "/proc/self/ns/net"


def network(debug_dir: Path, version: str = "1.1.0", **extra: Any) -> Any:
    conf = {
        "cniVersion": version,
        "name": "testnet",
        "plugins": [
            {"type": "echo", "debugDir": str(debug_dir), "capabilities": {"portMappings": True, "mac": False}},
            {"type": "echo2", "debugDir": str(debug_dir), "addIP": "10.99.0.3/24"},
        ],
        **extra,
    }
    return conflist_from_bytes(json.dumps(conf).encode())


@pytest.fixture
def runtime(plugin_dir: Path, tmp_path: Path) -> CNIConfig:
    return CNIConfig(
        [str(plugin_dir)],
        cache_dir=str(tmp_path / "cache"),
        timeout=20,
        env={"PATH": os.environ.get("PATH", ""), "CNI_NETNS_OVERRIDE": "1"},
    )


def rt(cid: str = "ctr1", **kw: Any) -> RuntimeConf:
    return RuntimeConf(container_id=cid, netns=SELF_NS, ifname="eth0", **kw)


def recorded(debug_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(debug_dir.iterdir())]


def test_add_threads_prev_result_and_caches(runtime: CNIConfig, debug_dir: Path, tmp_path: Path) -> None:
    net = network(debug_dir)
    caps = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}], "mac": "02:00:00:00:00:09"}
    result = runtime.add_network_list(
        net, rt(args=[("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")], capability_args=caps)
    )
    assert [ip["address"] for ip in result["ips"]] == ["10.99.0.2/24", "10.99.0.3/24"]
    first, second = recorded(debug_dir)
    assert first["conf"]["name"] == "testnet"
    assert first["conf"]["cniVersion"] == "1.1.0"
    assert "prevResult" not in first["conf"]
    # Only capabilities the plugin enables are injected.
    assert first["conf"]["runtimeConfig"] == {"portMappings": caps["portMappings"]}
    assert "runtimeConfig" not in second["conf"]
    assert second["conf"]["prevResult"]["ips"][0]["address"] == "10.99.0.2/24"
    assert first["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
    assert first["env"]["CNI_PATH"] == runtime.path[0]
    cache_file = tmp_path / "cache" / "results" / "testnet-ctr1-eth0"
    cached = json.loads(cache_file.read_text())
    assert cached["kind"] == "cniCacheV1"
    assert (cached["containerId"], cached["ifName"], cached["networkName"]) == ("ctr1", "eth0", "testnet")
    assert base64.b64decode(cached["config"]) == net.data
    assert cached["cniArgs"] == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]]
    assert cached["result"] == result
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    assert runtime.get_cached_result(net, rt()) == result


def test_results_come_back_in_the_network_version(runtime: CNIConfig, debug_dir: Path) -> None:
    result = runtime.add_network_list(network(debug_dir, "0.3.1"), rt())
    assert result["cniVersion"] == "0.3.1"
    assert all(ip["version"] == "4" for ip in result["ips"])


def test_del_runs_in_reverse_with_cached_prev_result(runtime: CNIConfig, debug_dir: Path, tmp_path: Path) -> None:
    net = network(debug_dir)
    result = runtime.add_network_list(net, rt())
    runtime.del_network_list(net, rt())
    dels = recorded(debug_dir)[2:]
    assert [d["env"]["CNI_COMMAND"] for d in dels] == ["DEL", "DEL"]
    assert [d["conf"]["type"] for d in dels] == ["echo2", "echo"]
    assert dels[0]["conf"]["prevResult"] == result
    assert not (tmp_path / "cache" / "results" / "testnet-ctr1-eth0").exists()
    runtime.del_network_list(net, rt())  # a repeated DEL is fine


def test_del_before_0_4_0_sends_no_prev_result(runtime: CNIConfig, debug_dir: Path) -> None:
    net = network(debug_dir, "0.3.1")
    runtime.add_network_list(net, rt())
    runtime.del_network_list(net, rt())
    assert all("prevResult" not in d["conf"] for d in recorded(debug_dir)[2:])


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"kind": "cniCacheV1", "result": 5}', b"[]"])
def test_corrupt_cache_does_not_block_del(runtime: CNIConfig, debug_dir: Path, tmp_path: Path, content: bytes) -> None:
    """F6: a truncated or garbage cache reads as absent; DEL goes on and removes it."""
    net = network(debug_dir)
    runtime.add_network_list(net, rt())
    cache_file = tmp_path / "cache" / "results" / "testnet-ctr1-eth0"
    cache_file.write_bytes(content)
    runtime.del_network_list(net, rt())
    assert all("prevResult" not in d["conf"] for d in recorded(debug_dir)[2:])
    assert not cache_file.exists()


def test_check_uses_cache_and_honours_disable_check(runtime: CNIConfig, debug_dir: Path) -> None:
    net = network(debug_dir)
    result = runtime.add_network_list(net, rt())
    runtime.check_network_list(net, rt())
    checks = recorded(debug_dir)[2:]
    assert [c["env"]["CNI_COMMAND"] for c in checks] == ["CHECK", "CHECK"]
    assert checks[0]["conf"]["prevResult"] == result
    for value in (True, "true"):
        disabled = network(debug_dir, disableCheck=value)
        before = len(calls(debug_dir))
        runtime.check_network_list(disabled, rt())
        assert len(calls(debug_dir)) == before


def test_check_refused_before_0_4_0(runtime: CNIConfig, debug_dir: Path) -> None:
    with pytest.raises(IncompatibleCNIVersion):
        runtime.check_network_list(network(debug_dir, "0.3.1"), rt())
    assert calls(debug_dir) == []


def test_failed_plugin_error_is_raised_with_its_code(runtime: CNIConfig, debug_dir: Path, tmp_path: Path) -> None:
    conf = {
        "cniVersion": "1.1.0",
        "name": "testnet",
        "plugins": [
            {"type": "echo", "debugDir": str(debug_dir)},
            {"type": "echo2", "debugDir": str(debug_dir), "failWith": {"command": "ADD", "code": 11, "msg": "later"}},
        ],
    }
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(conflist_from_bytes(json.dumps(conf).encode()), rt())
    assert (info.value.code, info.value.msg) == (11, "later")
    assert not (tmp_path / "cache" / "results" / "testnet-ctr1-eth0").exists(), "no cache for a failed ADD"


def test_gc_dels_stale_attachments_then_sends_gc(runtime: CNIConfig, debug_dir: Path, tmp_path: Path) -> None:
    net = network(debug_dir)
    for cid in ("keep", "stale1", "stale2"):
        runtime.add_network_list(net, rt(cid))
    before = len(calls(debug_dir))
    runtime.gc_network_list(net, [("keep", "eth0")])
    after = recorded(debug_dir)[before:]
    dels = [(a["env"]["CNI_CONTAINERID"], a["conf"]["type"]) for a in after if a["env"]["CNI_COMMAND"] == "DEL"]
    assert sorted(dels) == sorted([("stale1", "echo2"), ("stale1", "echo"), ("stale2", "echo2"), ("stale2", "echo")])
    gcs = [a for a in after if a["env"]["CNI_COMMAND"] == "GC"]
    assert [g["conf"]["type"] for g in gcs] == ["echo", "echo2"]
    expected = [{"containerID": "keep", "ifname": "eth0"}]
    assert gcs[0]["conf"]["cni.dev/valid-attachments"] == expected
    assert gcs[0]["conf"]["cni.dev/attachments"] == expected
    assert sorted(os.listdir(tmp_path / "cache" / "results")) == ["testnet-keep-eth0"]


def test_gc_before_1_1_0_only_dels_and_disable_gc_does_nothing(runtime: CNIConfig, debug_dir: Path) -> None:
    old = network(debug_dir, "1.0.0")
    runtime.add_network_list(old, rt("a"))
    runtime.gc_network_list(old, [])
    assert calls(debug_dir)[-2:] == ["DEL", "DEL"]
    runtime.add_network_list(old, rt("b"))
    before = calls(debug_dir)
    runtime.gc_network_list(network(debug_dir, "1.0.0", disableGC=True), [])
    assert calls(debug_dir) == before


def test_gc_keeps_going_and_reports_every_failure(runtime: CNIConfig, debug_dir: Path) -> None:
    conf = {
        "cniVersion": "1.1.0",
        "name": "testnet",
        "plugins": [
            {"type": "echo", "debugDir": str(debug_dir), "failWith": {"command": "GC", "code": 5, "msg": "first"}},
            {"type": "echo2", "debugDir": str(debug_dir), "failWith": {"command": "GC", "code": 11, "msg": "second"}},
        ],
    }
    with pytest.raises(CNIErrorGroup) as info:
        runtime.gc_network_list(conflist_from_bytes(json.dumps(conf).encode()), [])
    assert [e.code for e in info.value.errors] == [5, 11]


def test_gc_refuses_planted_cache_entry_outside_the_cache(runtime: CNIConfig, debug_dir: Path, tmp_path: Path) -> None:
    """S3 for GC-synthesised DELs: a cache entry naming `../../canary` is acted on by no
    plugin; GC drops it as the garbage it is (before, it failed every GC for ever)."""
    canary = tmp_path / "canary"
    canary.write_text("alive")
    results = tmp_path / "cache" / "results"
    results.mkdir(parents=True)
    (results / "testnet-evil-eth0").write_text(
        json.dumps(
            {
                "kind": "cniCacheV1",
                "containerId": "../../canary",
                "ifName": "eth0",
                "networkName": "testnet",
                "config": "",
                "result": {"cniVersion": "1.1.0"},
            }
        )
    )
    assert runtime.gc_network_list(network(debug_dir), []) == []
    assert canary.read_text() == "alive"
    assert "DEL" not in calls(debug_dir)
    assert not (results / "testnet-evil-eth0").exists()


@pytest.mark.parametrize("verb", ["add", "check", "del"])
def test_s3_bad_container_id_refused_before_any_exec(
    runtime: CNIConfig, debug_dir: Path, tmp_path: Path, verb: str
) -> None:
    canary = tmp_path / "canary"
    canary.write_text("alive")
    net = network(debug_dir)
    method = getattr(runtime, f"{verb}_network_list")
    with pytest.raises(InvalidEnvironmentVariables):
        method(net, RuntimeConf(container_id="../../canary", netns=SELF_NS, ifname="eth0"))
    assert canary.read_text() == "alive"
    assert calls(debug_dir) == []


def test_s6_injected_cni_args_refused(runtime: CNIConfig, debug_dir: Path) -> None:
    with pytest.raises(InvalidEnvironmentVariables, match="may not contain"):
        runtime.add_network_list(network(debug_dir), rt(args=[("K8S_POD_NAME", "x;IP=10.0.0.5")]))
    assert calls(debug_dir) == []


@pytest.mark.parametrize("plugin_type", ["../../bin/sh", "/bin/true", "..", ".", "a\\b", "a\0b"])
def test_s1_bad_plugin_type_never_execs(runtime: CNIConfig, plugin_dir: Path, tmp_path: Path, plugin_type: str) -> None:
    canary = tmp_path / "ran"
    evil = plugin_dir.parent / "sh"
    evil.write_text(f"#!/bin/sh\ntouch {canary}\n")
    evil.chmod(0o755)
    try:
        conf = {"cniVersion": "1.1.0", "name": "testnet", "plugins": [{"type": plugin_type}]}
        with pytest.raises(CNIError) as info:
            runtime.add_network_list(conflist_from_bytes(json.dumps(conf).encode()), rt())
        assert info.value.code == 7
        assert not canary.exists()
    finally:
        evil.unlink()


def test_relative_and_empty_cni_path_entries_are_ignored(
    plugin_dir: Path, debug_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E7: a plugin is found only in absolute directories, whatever the working directory."""
    monkeypatch.chdir(plugin_dir)
    runtime = CNIConfig(["", "bin", "."], cache_dir=str(tmp_path / "c"))
    with pytest.raises(InvalidNetworkConfig, match="failed to find plugin"):
        runtime.add_network_list(network(debug_dir), rt())


def test_status_and_its_version_gate(runtime: CNIConfig, debug_dir: Path) -> None:
    runtime.get_status_network_list(network(debug_dir))
    assert calls(debug_dir) == ["STATUS", "STATUS"]
    runtime.get_status_network_list(network(debug_dir, "1.0.0"))
    assert len(calls(debug_dir)) == 2
    failing = json.dumps(
        {
            "cniVersion": "1.1.0",
            "name": "testnet",
            "plugins": [
                {"type": "echo", "failWith": {"command": "STATUS", "code": 50, "msg": "no addresses left"}},
                {"type": "echo2", "debugDir": str(debug_dir)},
            ],
        }
    ).encode()
    with pytest.raises(CNIError) as info:
        runtime.get_status_network_list(conflist_from_bytes(failing))
    assert info.value.code == 50
    assert len(calls(debug_dir)) == 2, "STATUS stops at the first failure"


def test_validate_and_version_info(runtime: CNIConfig, debug_dir: Path) -> None:
    assert runtime.validate_network_list(network(debug_dir)) == ["portMappings"]
    info = runtime.get_version_info("echo")
    assert info.supported_versions[-1] == "1.1.0"
    bad = json.dumps({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "missing"}, {"type": "echo"}]})
    with pytest.raises(CNIErrorGroup, match="failed to find plugin 'missing'"):
        runtime.validate_network_list(conflist_from_bytes(bad.encode()))


def test_exec_timeout_kills_the_plugin(plugin_dir: Path, debug_dir: Path, tmp_path: Path) -> None:
    runtime = CNIConfig([str(plugin_dir)], cache_dir=str(tmp_path / "c"), timeout=1.0, env={"CNI_NETNS_OVERRIDE": "1"})
    conf = json.dumps({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "echo", "sleep": 30}]})
    started = time.monotonic()
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(conflist_from_bytes(conf.encode()), rt())
    assert info.value.code == 11
    # The cleanup DEL timed out too (this plugin sleeps on every verb), and says so.
    assert "cleanup DEL failed" in info.value.details
    assert time.monotonic() - started < 10
    assert not (tmp_path / "c" / "results").exists(), "a timed-out ADD caches nothing"


def test_f7_timed_out_add_is_deleted_by_the_library(plugin_dir: Path, debug_dir: Path, tmp_path: Path) -> None:
    """F7: the second plugin's ADD is killed at the deadline; the library then DELs both
    plugins in reverse order, with fresh deadlines and the first plugin's result."""
    runtime = CNIConfig([str(plugin_dir)], cache_dir=str(tmp_path / "c"), timeout=1.0, env={"CNI_NETNS_OVERRIDE": "1"})
    plugins = [
        {"type": "echo", "debugDir": str(debug_dir)},
        {"type": "echo", "debugDir": str(debug_dir), "sleep": 30, "sleepOn": "ADD"},
    ]
    conf = json.dumps({"cniVersion": "1.1.0", "name": "n", "plugins": plugins})
    with pytest.raises(CNIError) as info:
        runtime.add_network_list(conflist_from_bytes(conf.encode()), rt())
    assert info.value.code == 11
    assert "cleanup" not in info.value.details
    assert calls(debug_dir) == ["ADD", "DEL", "DEL"]
    deletes = recorded(debug_dir)[1:]
    assert all(d["conf"]["prevResult"]["ips"] for d in deletes)
    assert not (tmp_path / "c" / "results").exists()


def test_plugin_output_is_bounded(plugin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """S11: a plugin printing more than the cap is killed; we get a bounded error."""
    monkeypatch.setattr("cni.invoke.MAX_OUTPUT", 1 << 16)
    from cni import invoke

    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c",
        "CNI_NETNS": SELF_NS,
        "CNI_NETNS_OVERRIDE": "1",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(plugin_dir),
    }
    conf = json.dumps({"cniVersion": "1.1.0", "name": "n", "type": "echo", "spew": 1 << 20}).encode()
    with pytest.raises(CNIError) as info:
        invoke.run(str(plugin_dir / "echo"), env, conf, timeout=20, max_output=1 << 16)
    assert info.value.code == 5


def test_gc_waits_for_in_flight_operations(runtime: CNIConfig, debug_dir: Path) -> None:
    """K7: GC is exclusive with ADD/DEL; a GC issued during an ADD runs after it."""
    slow = conflist_from_bytes(
        json.dumps(
            {
                "cniVersion": "1.1.0",
                "name": "testnet",
                "plugins": [{"type": "echo", "debugDir": str(debug_dir), "sleep": 1.5}],
            }
        ).encode()
    )
    adder = threading.Thread(target=runtime.add_network_list, args=(slow, rt("fresh")))
    adder.start()
    time.sleep(0.5)
    runtime.gc_network_list(network(debug_dir), [("fresh", "eth0")])
    adder.join()
    assert calls(debug_dir)[0] == "ADD", "GC ran while the ADD was in flight"
    assert "DEL" not in calls(debug_dir), "a freshly added attachment was collected"


# --- loading ----------------------------------------------------------------------------------


def write(directory: Path, name: str, obj: object) -> None:
    (directory / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))


def test_load_dir_order_legacy_and_broken_files(tmp_path: Path) -> None:
    write(tmp_path, "20-b.conflist", {"cniVersion": "1.0.0", "name": "b", "plugins": [{"type": "bridge"}]})
    write(tmp_path, "10-a.conflist", {"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "ptp"}]})
    write(tmp_path, "05-old.conf", {"cniVersion": "0.3.1", "name": "old", "type": "bridge", "bridge": "br9"})
    write(tmp_path, "15-broken.conflist", "{not json")
    write(tmp_path, "16-bad.conflist", {"name": "bad/name", "plugins": [{"type": "x"}]})
    write(tmp_path, "17-empty.conflist", {"cniVersion": "1.0.0", "name": "empty", "plugins": []})
    write(tmp_path, "30-a-again.conflist", {"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "x"}]})
    write(tmp_path, "README.txt", "ignored")
    loaded = load_dir(str(tmp_path))
    assert [n.name for n in loaded.networks] == ["a", "b", "a", "old"]
    assert sorted(Path(p).name for p, _ in loaded.errors) == [
        "15-broken.conflist",
        "16-bad.conflist",
        "17-empty.conflist",
    ]
    assert all(err.code in (6, 7) for _, err in loaded.errors)
    assert loaded.get("a").plugins == [{"type": "ptp"}]
    old = loaded.get("old")
    assert old.cni_version == "0.3.1"
    assert old.plugins == [{"cniVersion": "0.3.1", "name": "old", "type": "bridge", "bridge": "br9"}]
    with pytest.raises(InvalidNetworkConfig, match="no network named 'zzz'"):
        loaded.get("zzz")
    assert load_dir(str(tmp_path / "missing")).networks == []


def test_plugin_fragments_are_appended_unless_inlined_only(tmp_path: Path) -> None:
    write(tmp_path, "10-a.conflist", {"cniVersion": "1.1.0", "name": "a", "plugins": [{"type": "bridge"}]})
    write(
        tmp_path,
        "20-b.conflist",
        {"cniVersion": "1.1.0", "name": "b", "loadOnlyInlinedPlugins": True, "plugins": [{"type": "bridge"}]},
    )
    for net in ("a", "b"):
        (tmp_path / net).mkdir()
        write(tmp_path / net, "10-portmap.conf", {"type": "portmap"})
    loaded = load_dir(str(tmp_path))
    assert [p["type"] for p in loaded.get("a").plugins] == ["bridge", "portmap"]
    assert [p["type"] for p in loaded.get("b").plugins] == ["bridge"]


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"name": "n", "plugins": [{"name": "x"}]}, "plugins.0.type"),
        ({"name": "n", "plugins": [{"type": "../x"}]}, "plugins.0.type '../x'"),
        ({"name": "n", "disableCheck": "maybe", "plugins": []}, "disableCheck 'maybe'"),
        ({"name": "n", "plugins": {"type": "x"}}, "plugins"),
        ({"plugins": []}, "missing name"),
    ],
)
def test_conflist_errors_name_key_and_value(conf: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidNetworkConfig) as info:
        conflist_from_bytes(json.dumps(conf).encode())
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("version", "listed", "expected"),
    [
        ("1.0.0", None, "1.0.0"),
        ("0.4.0", ["1.1.0", "1.0.0"], "1.1.0"),
        (None, ["1.0.0", "9.0.0"], "1.0.0"),
        (None, None, "0.1.0"),
        ("1.0.0", ["2.0.0"], "1.0.0"),
    ],
)
def test_version_negotiation(version: str | None, listed: list[str] | None, expected: str) -> None:
    assert negotiate_version(version, listed) == expected


def test_version_negotiation_refuses_garbage() -> None:
    with pytest.raises(CNIError):
        negotiate_version("1.0.0", ["one"])
