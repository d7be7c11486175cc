# SPDX-License-Identifier: Apache-2.0
"""The static IPAM plugin as a process, beside the reference where it has the feature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import run_plugin

BASE: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "st",
    "type": "bridge",
    "ipam": {
        "type": "static",
        "addresses": [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}, {"address": "fd10::5/64"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.10.0.53"], "search": ["st.test"]},
    },
}


@pytest.fixture
def static(our_bin: Path) -> Path:
    return our_bin / "static"


def test_add_returns_configured_addresses_routes_dns(static: Path) -> None:
    out = run_plugin(static, "ADD", BASE)
    assert out.json == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}, {"address": "fd10::5/64"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.10.0.53"], "search": ["st.test"]},
    }


def test_matches_the_reference(static: Path, reference_bin: Path) -> None:
    ours = run_plugin(static, "ADD", BASE, cni_args="IgnoreUnknown=1;IP=10.20.0.7/16;GATEWAY=10.20.0.1")
    theirs = run_plugin(
        reference_bin / "static", "ADD", BASE, cni_args="IgnoreUnknown=1;IP=10.20.0.7/16;GATEWAY=10.20.0.1"
    )
    assert ours.status == theirs.status == 0
    assert ours.json == theirs.json


def test_cni_args_add_addresses_and_gateways(static: Path) -> None:
    out = run_plugin(static, "ADD", BASE, cni_args="IgnoreUnknown=1;IP=10.20.0.7/16,fd20::7/64;GATEWAY=fd20::1")
    assert out.json["ips"][2:] == [{"address": "10.20.0.7/16"}, {"address": "fd20::7/64", "gateway": "fd20::1"}]


@pytest.mark.parametrize(
    ("key", "where"),
    [("args", {"args": {"cni": {"ips": ["10.30.0.9/24"]}}}), ("runtime", {"runtimeConfig": {"ips": ["10.30.0.9/24"]}})],
)
def test_args_and_runtime_ips_replace_the_config(static: Path, key: str, where: dict[str, Any]) -> None:
    out = run_plugin(static, "ADD", {**BASE, **where})
    assert out.json["ips"] == [{"address": "10.30.0.9/24"}]


@pytest.mark.parametrize(
    ("conf", "cni_args"),
    [
        ({**BASE, "ipam": {"type": "static", "addresses": [{"address": "10.0.0.5"}]}}, ""),
        ({**BASE, "ipam": {"type": "static", "addresses": [{"address": "10.0.0.5/24", "gateway": "x"}]}}, ""),
        (BASE, "IP=banana"),
        (BASE, "GATEWAY=banana;IP=10.0.0.1/8"),
        ({k: v for k, v in BASE.items() if k != "ipam"}, ""),
        ({**BASE, "runtimeConfig": {"ips": ["10.0.0.1"]}}, ""),
    ],
)
def test_bad_input_is_code_7(static: Path, conf: dict[str, Any], cni_args: str) -> None:
    out = run_plugin(static, "ADD", conf, cni_args=cni_args)
    assert (out.status, out.code) == (1, 7), out.json


def test_two_addresses_per_family_need_0_3_0(static: Path) -> None:
    conf = {
        **BASE,
        "cniVersion": "0.2.0",
        "ipam": {"type": "static", "addresses": [{"address": "10.0.0.5/24"}, {"address": "10.0.1.5/24"}]},
    }
    assert run_plugin(static, "ADD", conf).code == 7


def test_check_and_del(static: Path) -> None:
    result = run_plugin(static, "ADD", BASE).json
    assert run_plugin(static, "CHECK", {**BASE, "prevResult": result}).status == 0
    lost = {**result, "ips": result["ips"][:1]}
    out = run_plugin(static, "CHECK", {**BASE, "prevResult": lost})
    assert out.status == 1
    assert "fd10::5/64" in out.json["msg"]
    assert run_plugin(static, "DEL", BASE).status == 0
    assert run_plugin(static, "CHECK", {**BASE, "cniVersion": "0.3.1", "prevResult": result}).code == 1
