# SPDX-License-Identifier: Apache-2.0
"""Result conversion between every pair of wire versions.

Pairs among 0.1.0-1.0.0 are checked against goldens produced by Debian's libcni (and, when
Go is installed, against libcni live); the 1.1.0 rules are asserted field by field.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cni import versions
from cni.conversion import convert
from cni.errors import IncompatibleCNIVersion
from cni.models import parse_result

DATA = Path(__file__).parent / "data"
GO_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")
PAIRS = [(a, b) for a in GO_VERSIONS for b in GO_VERSIONS]


def sample(version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "results" / f"{version}.json").read_text())
    return data


def golden(source: str, target: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "convert" / f"{source}-to-{target}.json").read_text())
    return data


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_matches_libcni_golden(source: str, target: str) -> None:
    assert convert(sample(source), target) == golden(source, target)


@pytest.mark.interop
@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_matches_libcni_live(go_driver: Path, source: str, target: str) -> None:
    data = (DATA / "results" / f"{source}.json").read_bytes()
    out = subprocess.run([str(go_driver), "convert", target], input=data, capture_output=True, check=True)
    expected = json.loads(out.stdout)
    if expected.get("dns") == {}:
        del expected["dns"]
    assert convert(sample(source), target) == expected


@pytest.mark.parametrize("source", GO_VERSIONS)
def test_up_to_1_1_0_is_the_1_0_0_conversion_relabelled(source: str) -> None:
    assert convert(sample(source), "1.1.0") == {**golden(source, "1.0.0"), "cniVersion": "1.1.0"}


def test_1_1_0_to_1_0_0_copies_every_field() -> None:
    assert convert(sample("1.1.0"), "1.0.0") == {**sample("1.1.0"), "cniVersion": "1.0.0"}
    assert convert(convert(sample("1.1.0"), "1.0.0"), "1.1.0") == sample("1.1.0")


@pytest.mark.parametrize("target", ["0.3.0", "0.3.1", "0.4.0"])
def test_1_1_0_to_0_4_0_drops_new_interface_fields_keeps_route_fields(target: str) -> None:
    source = sample("1.1.0")
    out: dict[str, Any] = convert(source, target)
    assert out["interfaces"] == [
        {"name": "cni0", "mac": "0a:58:0a:01:00:01"},
        {"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/pod1"},
    ]
    assert [ip["version"] for ip in out["ips"]] == ["4", "4", "6"]
    # Go's shared Route type keeps mtu/advmss/priority/table/scope, including zeros.
    assert out["routes"] == source["routes"]
    assert out["routes"][0]["table"] == 0


@pytest.mark.parametrize("target", ["0.1.0", "0.2.0"])
def test_1_1_0_to_legacy_keeps_first_address_per_family_and_dst_gw(target: str) -> None:
    assert convert(sample("1.1.0"), target) == {**golden("1.0.0", target), "cniVersion": target}


@pytest.mark.parametrize("version", versions.ALL)
def test_same_version_is_identity(version: str) -> None:
    assert convert(sample(version), version) == sample(version)


UPWARD = [(a, b) for a in versions.ALL for b in versions.ALL if versions.parse(b) >= versions.parse(a)]


@pytest.mark.parametrize(("source", "via"), UPWARD, ids=[f"{a}-via-{b}" for a, b in UPWARD])
def test_round_trips_through_any_newer_version(source: str, via: str) -> None:
    assert convert(convert(sample(source), via), source) == sample(source)


def test_legacy_needs_an_address() -> None:
    with pytest.raises(IncompatibleCNIVersion, match="no valid IP addresses"):
        convert({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}, "0.2.0")


def test_result_without_version_uses_the_given_one() -> None:
    bare = {k: v for k, v in sample("1.0.0").items() if k != "cniVersion"}
    assert convert(bare, "0.4.0", from_version="1.0.0") == golden("1.0.0", "0.4.0")


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(IncompatibleCNIVersion):
        convert(sample("1.0.0"), "9.9.9")
    with pytest.raises(IncompatibleCNIVersion):
        convert({**sample("1.0.0"), "cniVersion": "2.0.0"}, "1.0.0")


@pytest.mark.parametrize("version", versions.ALL)
def test_pydantic_model_accepts_every_sample_and_gives_it_back(version: str) -> None:
    model = parse_result(sample(version))
    assert model.cni_version == version
    assert model.to_dict() == sample(version)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}, "ips.0.address '10.0.0.1'"),
        ({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1/24", "gateway": "x"}]}, "ips.0.gateway 'x'"),
        ({"cniVersion": "0.4.0", "ips": [{"address": "10.0.0.1/24"}]}, "ips.0.version"),
        ({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": -1}]}, "routes.0.table -1"),
        (
            {"cniVersion": "1.0.0", "interfaces": [{"name": "a"}], "ips": [{"address": "1.2.3.4/8", "interface": 3}]},
            "names no entry of interfaces",
        ),
        ({"cniVersion": "0.2.0", "ip4": {"gateway": "10.0.0.1"}}, "ip4.ip"),
    ],
)
def test_invalid_results_name_key_and_value(result: dict[str, Any], message: str) -> None:
    from cni.errors import CNIError

    with pytest.raises(CNIError, match="invalid result") as info:
        parse_result(result)
    assert message in str(info.value)
