# SPDX-License-Identifier: Apache-2.0
"""The plugin SDK: bad environments and inputs get the right code and change nothing.

Case names (C1, E2, ...) are those of shared/docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cni import skel, versions
from cni.errors import CNIError
from tests.support.sdk import GOOD_CONF, GOOD_ENV, PREV, RESULT, Run, run


def assert_refused(r: Run, code: int, *words: str) -> None:
    assert r.status == 1
    assert r.code == code, r.stdout
    assert set(r.json or {}) <= {"code", "msg", "details"}
    for word in words:
        assert word in r.json["msg"]  # type: ignore[index]
    assert r.calls == [], "the plugin's handler ran: something may have changed"


def test_good_add_prints_result_in_config_version() -> None:
    r = run(conf={**GOOD_CONF, "cniVersion": "0.3.1"})
    assert r.status == 0
    assert r.json == {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1"}]}
    assert r.calls[0].container_id == "ctr1"
    assert r.calls[0].conf["name"] == "net1"


def test_missing_version_means_0_1_0() -> None:
    """C3: no cniVersion is 0.1.0, and the result comes back in that shape."""
    r = run(conf={"name": "net1", "type": "echo"})
    assert r.status == 0
    assert r.json == {"cniVersion": "0.1.0", "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"}}


def test_version_ignores_stdin_and_lists_everything() -> None:
    r = Run({"CNI_COMMAND": "VERSION"}, b"not json")
    assert r.status == 0
    assert r.json == {"cniVersion": "1.1.0", "supportedVersions": list(versions.ALL)}


# --- C1: stdin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "code"),
    [
        (b"not json", 6),
        (b'{"cniVersion": "1.1.0", "name": "n"', 6),
        (b'{"name": "\xff\xfe"}', 6),
        (b"", 6),
        (b"[1, 2]", 6),
        (b'{"cniVersion": "1.1.0", "name": "n", "type": "a", "type": "b"}', 6),
        (b" " * (skel.MAX_STDIN + 1), 5),
        (b'{"a":' * 70 + b"1" + b"}" * 70, 6),
    ],
    ids=["garbage", "truncated", "not-utf8", "empty", "not-object", "duplicate-key", "over-cap", "too-deep"],
)
def test_c1_bad_stdin(stdin: bytes, code: int) -> None:
    assert_refused(run(conf=stdin), code)


# --- C2: network name --------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "", "../x", "a/b", ".x", "a\0b", "-a", "ä", 5])
def test_c2_bad_network_name(name: object) -> None:
    conf: dict[str, object] = {k: v for k, v in GOOD_CONF.items() if k != "name"}
    if name is not None:
        conf["name"] = name
    assert_refused(run(conf=conf), 7, "name")


# --- C3: versions ------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "code"), [("9.9.9", 1), ("1.0", 1), (123, 6), (["1.0.0"], 6)])
def test_c3_bad_version(version: object, code: int) -> None:
    assert_refused(run(conf={**GOOD_CONF, "cniVersion": version}), code)


def test_c3_version_the_plugin_does_not_list() -> None:
    out = io.StringIO()
    status = skel.plugin_main(
        add=lambda a: RESULT,
        supported_versions=("1.0.0", "1.1.0"),
        env=GOOD_ENV,
        stdin=io.BytesIO(json.dumps({**GOOD_CONF, "cniVersion": "0.2.0"}).encode()),
        stdout=out,
        stderr=io.StringIO(),
    )
    assert status == 1
    assert json.loads(out.getvalue())["code"] == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("type", "../../bin/sh"),
        ("type", "a\\b"),
        ("type", ".."),
        ("ipMasq", "yes"),
        ("ipam", {"type": "/bin/true"}),
        ("dns", {"nameservers": "10.0.0.1"}),
        ("capabilities", {"a": 1}),
    ],
)
def test_common_keys_are_checked(key: str, value: object) -> None:
    assert_refused(run(conf={**GOOD_CONF, key: value}), 7, key)


# --- E1: CNI_COMMAND and required variables -----------------------------------------------


@pytest.mark.parametrize("command", [None, "", "add", "FOO"])
def test_e1_bad_command(command: str | None) -> None:
    r = run({"CNI_COMMAND": command})
    assert_refused(r, 4, "CNI_COMMAND")
    if not command:
        assert "test plugin" in r.stderr  # a person ran it by hand: say what it is


def test_e1_one_error_names_every_missing_variable() -> None:
    r = run({"CNI_CONTAINERID": None, "CNI_NETNS": None, "CNI_IFNAME": None, "CNI_PATH": None})
    assert_refused(r, 4, "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]")


@pytest.mark.parametrize(
    ("command", "needed"),
    [
        ("DEL", ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]),
        ("CHECK", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]),
        ("GC", ["CNI_PATH"]),
        ("STATUS", ["CNI_PATH"]),
    ],
)
def test_e1_required_variables_per_verb(command: str, needed: list[str]) -> None:
    r = run({"CNI_COMMAND": command, "CNI_CONTAINERID": None, "CNI_NETNS": None, "CNI_IFNAME": None, "CNI_PATH": None})
    assert_refused(r, 4, f"[{','.join(needed)}]")


def test_del_does_not_need_netns() -> None:
    r = run({"CNI_COMMAND": "DEL", "CNI_NETNS": None})
    assert r.status == 0
    assert len(r.calls) == 1


# --- E2, E3: container ID and interface name ------------------------------------------------


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL"])
@pytest.mark.parametrize("cid", ["", "-abc", "a/b", "a b", "ä", "a\0b", "../../../tmp/canary", ".x"])
def test_e2_s3_bad_container_id(command: str, cid: str) -> None:
    conf = {**GOOD_CONF, "prevResult": PREV}
    assert_refused(run({"CNI_COMMAND": command, "CNI_CONTAINERID": cid}, conf=conf), 4, "CNI_CONTAINERID")


@pytest.mark.parametrize(
    "ifname",
    # 8 x "é" is 8 characters but 16 bytes: the kernel's limit counts bytes.
    ["", "a" * 16, ".", "..", "eth/0", "eth:0", "eth 0", "eth\n0", "eth\t0", "é" * 8, "eth\udcff"],
)
def test_e3_bad_ifname(ifname: str) -> None:
    assert_refused(run({"CNI_IFNAME": ifname}), 4, "CNI_IFNAME")


def test_e3_fifteen_bytes_is_fine() -> None:
    assert run({"CNI_IFNAME": "a" * 15}).status == 0
    assert run({"CNI_IFNAME": "é" * 7 + "a"}).status == 0


# --- E4-E6: the namespace guard -------------------------------------------------------------


def test_e6_own_netns_refused_before_anything_runs() -> None:
    assert_refused(run({"CNI_NETNS_OVERRIDE": None}), 8, "own network namespace")
    assert_refused(run({"CNI_COMMAND": "DEL", "CNI_NETNS_OVERRIDE": None}), 8)


@pytest.mark.parametrize("path", ["/nonexistent/netns", "/proc/self/ns/mnt", "/etc/hostname"])
def test_e4_e5_not_a_netns(path: str) -> None:
    assert_refused(run({"CNI_NETNS": path}), 8)
    r = run({"CNI_COMMAND": "DEL", "CNI_NETNS": path})
    assert r.status == 0, "DEL of a namespace that is gone must still clean up"


# --- E8: version gates and CHECK's prevResult -------------------------------------------------


def test_e8_gates() -> None:
    assert_refused(
        run({"CNI_COMMAND": "CHECK"}, conf={**GOOD_CONF, "cniVersion": "0.3.1", "prevResult": PREV}), 1, "CHECK"
    )
    for verb in ("GC", "STATUS"):
        assert_refused(run({"CNI_COMMAND": verb}, conf={**GOOD_CONF, "cniVersion": "1.0.0"}), 1, verb)
    assert_refused(run({"CNI_COMMAND": "CHECK"}), 7, "prevResult")


def test_gc_gets_valid_attachments() -> None:
    conf = {**GOOD_CONF, "cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}]}
    r = run({"CNI_COMMAND": "GC"}, conf=conf)
    assert r.status == 0
    assert r.calls[0].valid_attachments() == [{"containerID": "a", "ifname": "eth0"}]


@pytest.mark.parametrize("conf", [GOOD_CONF, {**GOOD_CONF, "cni.dev/valid-attachments": None}])
def test_f9_gc_without_a_valid_list_fails_safe(conf: dict[str, object]) -> None:
    assert_refused(run({"CNI_COMMAND": "GC"}, conf=conf), 7, "valid-attachments")


def test_gc_accepts_the_older_key() -> None:
    conf = {**GOOD_CONF, "cni.dev/attachments": []}
    assert run({"CNI_COMMAND": "GC"}, conf=conf).status == 0


def test_gc_and_status_default_to_success() -> None:
    r = run({"CNI_COMMAND": "STATUS"}, gc=None, status=None)
    assert r.status == 0
    assert r.stdout == ""


# --- failures inside the plugin --------------------------------------------------------------


def test_cni_error_from_plugin_is_printed() -> None:
    def add(args: skel.CmdArgs) -> object:
        raise CNIError("no more addresses", "range 10.0.0.0/30", code=11)

    r = run(add=add)
    assert r.status == 1
    assert r.json == {"code": 11, "msg": "no more addresses", "details": "range 10.0.0.0/30"}


def test_unexpected_exception_is_999_with_traceback_on_stderr() -> None:
    def add(args: skel.CmdArgs) -> object:
        raise KeyError("boom\nsecond line")

    r = run(add=add)
    assert r.status == 1
    assert r.code == 999
    assert "\n" not in r.json["msg"]  # type: ignore[index]
    assert "KeyError" in r.json["msg"]  # type: ignore[index]
    assert "Traceback" in r.stderr


def test_add_must_return_a_result() -> None:
    assert run(add=lambda a: None).code == 999


# --- the real process ----------------------------------------------------------------------------


def exec_echo(plugin_dir: Path, env: dict[str, str], conf: object = GOOD_CONF) -> tuple[int, Any]:
    out = subprocess.run(
        [str(plugin_dir / "echo")],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        check=False,
        timeout=30,
    )
    return out.returncode, json.loads(out.stdout)


def test_process_error_goes_to_stdout_exit_1(plugin_dir: Path) -> None:
    status, out = exec_echo(plugin_dir, {**GOOD_ENV, "CNI_IFNAME": "eth/0"})
    assert (status, out["code"]) == (1, 4)


def test_process_add_and_version(plugin_dir: Path) -> None:
    status, out = exec_echo(plugin_dir, GOOD_ENV)
    assert (status, out["ips"][0]["address"]) == (0, "10.99.0.2/24")
    status, out = exec_echo(plugin_dir, {"CNI_COMMAND": "VERSION"})
    assert (status, out["supportedVersions"][-1]) == (0, "1.1.0")


def test_launcher_starts_isolated_interpreter(plugin_dir: Path) -> None:
    first = (plugin_dir / "echo").read_text().splitlines()[0]
    assert first.startswith("#!/")
    assert first.endswith(" -IS")
    assert os.access(plugin_dir / "echo", os.X_OK)
    interpreter = first[2:].split()[0]
    assert Path(interpreter).resolve() == Path(interpreter)  # no shim, no symlink chain


def test_f5_del_finishes_despite_sigterm(plugin_dir: Path, tmp_path: Path) -> None:
    """A runtime giving up (SIGTERM, SIGINT) does not cut a DEL in half."""
    import signal
    import time

    env = {**GOOD_ENV, "CNI_COMMAND": "DEL"}
    conf = {**GOOD_CONF, "sleep": 1.5, "debugDir": str(tmp_path)}
    proc = subprocess.Popen([str(plugin_dir / "echo")], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(conf).encode())
    proc.stdin.close()
    time.sleep(0.8)  # inside the handler's work by now
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["0000-DEL.json"]
