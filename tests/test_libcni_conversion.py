# SPDX-License-Identifier: Apache-2.0
"""Result conversion against libcni v1.3 (issue 8), field for field, on generated cases.

`tests/data/libcni-v1.3/conversion.jsonl` holds 1,050 generated conversions (150 results
drawn by a seeded random generator over every wire version, each converted to every
version: interfaces, addresses of both families, IPv4-mapped IPv6 addresses, gateways,
interface indexes, 1.1.0 route fields, DNS, keys the spec does not define at every level,
0.3.x/0.4.0 `version`s that contradict their address), plus the cases the issue names,
each with what libcni v1.3.0 answered: `create.CreateFromBytes` then `GetAsVersion`, run
by a small Go program over containernetworking/cni v1.3.0's `pkg/types`, built in GOPATH
mode with Debian's Go 1.19 (Debian's libcni, 1.1.2, has no 1.1.0 results). Go prints an
empty `dns` object for results before 1.0.0; that is its encoder, not a field, and is
ignored.

Both of our conversion paths are checked: the lean one plugins use
(:func:`cni.conversion.convert`) and the runtime's (:func:`cni.models.result.parse_result`
then `to_dict`). They agree with libcni everywhere except the two cases below, where libcni
changes what the plugin said; each has a test of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cni.conversion import convert
from cni.errors import CNIError
from cni.models.result import parse_result

CASES = [
    json.loads(line) for line in (Path(__file__).parent / "data/libcni-v1.3/conversion.jsonl").read_text().splitlines()
]


def libcni_answer(case: dict[str, Any]) -> dict[str, Any]:
    """libcni's result, or {"error": True}: both refuse the same conversions, in their
    own words."""
    answer: dict[str, Any] = dict(case["libcni"])
    if "error" in answer:
        return {"error": True}
    if isinstance(answer.get("ok"), dict) and answer["ok"].get("dns") == {}:
        answer["ok"] = {k: v for k, v in answer["ok"].items() if k != "dns"}
    return answer


def ours(case: dict[str, Any], path: str) -> dict[str, Any]:
    try:
        if path == "lean":
            return {"ok": json.loads(json.dumps(convert(case["result"], case["to"])))}
        return {"ok": json.loads(json.dumps(parse_result(case["result"]).to_dict(case["to"])))}
    except CNIError:
        return {"error": True}


def has_short_mapped_cidr(result: dict[str, Any]) -> bool:
    """An IPv4-mapped CIDR whose prefix is shorter than 96 (it reaches past the mapped range)."""
    cidrs = [ip.get("address") for ip in result.get("ips", []) if isinstance(ip, dict)]
    cidrs += [result[k].get("ip") for k in ("ip4", "ip6") if isinstance(result.get(k), dict)]
    return any(isinstance(c, str) and c.startswith("::ffff:") and int(c.rsplit("/", 1)[1]) < 96 for c in cidrs)


def version_contradicts_address(result: dict[str, Any]) -> bool:
    ips = result.get("ips")
    return isinstance(ips, list) and any(
        isinstance(ip, dict) and "version" in ip and ip["version"] != ("4" if "." in ip["address"] else "6")
        for ip in ips
    )


def addresses(result: dict[str, Any]) -> list[str]:
    found = [ip["address"] for ip in result.get("ips", [])]
    found += [result[k]["ip"] for k in ("ip4", "ip6") if k in result]
    return found


@pytest.mark.parametrize("path", ["lean", "runtime"])
def test_conversion_agrees_with_libcni_except_where_it_changes_the_plugin_s_answer(path: str) -> None:
    divergent = 0
    for case in CASES:
        mine, theirs = ours(case, path), libcni_answer(case)
        if mine == theirs:
            continue
        divergent += 1
        named = has_short_mapped_cidr(case["result"]) or version_contradicts_address(case["result"])
        assert named, f"differs from libcni for no named reason: {case} -> ours {mine}, libcni {theirs}"
        assert "ok" in mine, (case, mine)
        # What we keep that libcni changes: a short mapped CIDR as the plugin wrote it ...
        short = {a for a in addresses(case["result"]) if a.startswith("::ffff:") and int(a.rsplit("/")[1]) < 96}
        assert short <= set(addresses(mine["ok"])) | set(addresses(convert(case["result"], "1.1.0"))), (case, mine)
        # ... and each address in the family it is.
        for ip in mine["ok"].get("ips", []):
            if "version" in ip:
                assert ip["version"] == ("4" if "." in ip["address"] else "6"), (case, mine)
        if "ip4" in mine["ok"]:
            assert "." in mine["ok"]["ip4"]["ip"], (case, mine)
    assert divergent < len(CASES) // 3, "the named cases are a minority of the generated ones"


def test_the_paths_agree_with_each_other() -> None:
    for case in CASES:
        assert ours(case, "lean") == ours(case, "runtime"), case


def test_unknown_keys_are_dropped_as_libcni_drops_them() -> None:
    result: dict[str, Any] = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "vendorThing": 1}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0, "extra": True}],
        "routes": [{"dst": "0.0.0.0/0", "weight": 3}],
        "dns": {"nameservers": ["10.0.0.1"], "ttl": 5},
        "plugin-private": {"a": 1},
    }
    expected = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.0.0.1"]},
    }
    assert convert(result, "1.1.0") == expected
    assert parse_result(result).to_dict("1.1.0") == expected


def test_mapped_addresses_are_written_as_ipv4_as_libcni_writes_them() -> None:
    result: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "ips": [{"address": "::ffff:10.0.0.2/120", "gateway": "::ffff:10.0.0.1"}],
    }
    case = next(c for c in CASES if c["result"] == result and c["to"] == "0.4.0")
    expected = [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1"}]
    assert libcni_answer(case)["ok"]["ips"] == expected
    assert convert(result, "0.4.0")["ips"] == expected


def test_divergence_short_mapped_cidr_keeps_its_text() -> None:
    """libcni v1.3 prints `::ffff:10.0.0.2/24` as `10.0.0.2/0`: a /0, which is not the
    network the plugin gave (a /24 of the IPv6 space, wider than the mapped range). The
    spec's address is a CIDR; no IPv4 CIDR says the same, so we keep the one given."""
    result: dict[str, Any] = {"cniVersion": "1.0.0", "ips": [{"address": "::ffff:10.0.0.2/24"}]}
    case = next(c for c in CASES if c["result"] == result and c["to"] == "0.4.0")
    assert libcni_answer(case)["ok"]["ips"] == [{"version": "4", "address": "10.0.0.2/0"}]
    assert convert(result, "0.4.0")["ips"] == [{"version": "4", "address": "::ffff:10.0.0.2/24"}]


def test_divergence_address_decides_the_family_not_a_contradicting_version() -> None:
    """A 0.4.0 entry `{"version": "6", "address": "10.0.0.2/24"}`: libcni, going down to
    0.2.0, follows `version` and files an IPv4 address under `ip6` (and an IPv6 one under
    `ip4`); we follow the address, which is what the interface holds."""
    result: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "ips": [{"version": "6", "address": "10.0.0.2/24"}, {"version": "4", "address": "fd00::2/64"}],
    }
    assert convert(result, "0.2.0") == {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.0.0.2/24"},
        "ip6": {"ip": "fd00::2/64"},
    }


def test_a_0_2_0_result_with_only_dns_converts_as_libcni_converts_it() -> None:
    """Within 0.1.0/0.2.0 libcni only relabels it; to 0.3.0 and later only DNS is left."""
    result: dict[str, Any] = {"cniVersion": "0.2.0", "dns": {"nameservers": ["10.0.0.1"]}}
    named = [c for c in CASES if c["result"] == result]
    assert sorted(c["to"] for c in named) == ["0.1.0", "0.2.0", "0.4.0", "1.0.0"]
    for case in named:
        assert ours(case, "lean") == ours(case, "runtime") == libcni_answer(case), case
    assert parse_result(result).to_dict("0.1.0") == {"cniVersion": "0.1.0", "dns": {"nameservers": ["10.0.0.1"]}}
