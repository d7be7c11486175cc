# SPDX-License-Identifier: Apache-2.0
"""The nf_tables batches the Rust core builds, against nft itself: for the same rule sets,
the expressions our encoder sends equal what `nft --debug=netlink` compiles from our text,
and the kernel holds the same ruleset (`nft -j list ruleset`) after our batch as after
`nft -f` of the text. The text itself is golden (tests/data/nft/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cni._native import ForwardRules, MasqRules, NftBatch, PortmapRules

pytestmark = pytest.mark.netns
GOLDEN = Path(__file__).parent.parent / "data" / "nft" / "rulesets.nft"


def rule_sets() -> list[Any]:
    mappings: list[tuple[int, int, str, str | None]] = [
        (8080, 80, "tcp", None),
        (5353, 53, "udp", "10.0.0.1"),
        (9999, 99, "sctp", None),
    ]
    return [
        PortmapRules("net1", "cid1", "eth0", "10.88.0.5/16", mappings),
        PortmapRules("net1", "cid2", "eth0", "10.88.0.6/16", [(8081, 80, "tcp", None)], masq_all=True),
        PortmapRules("net1", "cid3", "eth0", "10.88.0.7/16", [(8082, 80, "tcp", None)], snat=False),
        PortmapRules("net1", "cid1", "eth0", "fd00::5/64", [(8080, 80, "tcp", None), (53, 53, "udp", "fd00::1")]),
        MasqRules("net1", "cid1", "eth0", ["10.88.0.5/16", "10.99.0.5/24"]),
        MasqRules("net1", "cid1", "eth0", ["fd00::5/64"]),
        ForwardRules("net1", "cid1", "eth0", ["10.88.0.5"], "CNI-ADMIN"),
        ForwardRules("net1", "cid1", "eth0", ["fd00::5", "fd00::6"], "CNI-ADMIN"),
    ]


def batches() -> list[NftBatch]:
    seen: set[str] = set()
    out = []
    for rules in rule_sets():
        for batch in rules.nft_batches():
            if batch.text() not in seen:  # each table's skeleton once
                seen.add(batch.text())
                out.append(batch)
    return out


def test_text_is_golden() -> None:
    text = "".join(b.text() for b in batches())
    if os.environ.get("CNI_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def nft(netns: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns, "nft", *args], input=stdin, capture_output=True, text=True, check=False
    )


def test_expressions_equal_nft_compilation(make_netns: Callable[[str], str]) -> None:
    netns = make_netns("nftdbg")
    out = nft(netns, "--debug=netlink", "-f", "-", stdin="".join(b.text() for b in batches()))
    assert out.returncode == 0, out.stderr
    theirs: list[list[str]] = []
    current: list[str] = []
    for line in out.stdout.splitlines():
        if line.startswith("  ["):
            current.append(line.strip())
        elif current:
            theirs.append(current)
            current = []
    if current:
        theirs.append(current)
    ours = [rule for b in batches() for rule in b.debug()]
    assert ours == theirs


def _state(netns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(nft(netns, "-j", "list", "ruleset").stdout)["nftables"]
    for item in items:
        for value in item.values():
            if isinstance(value, dict):
                value.pop("handle", None)
    return items


APPLY = """
import sys
sys.path[:0] = [{tests!r}]
from netns.test_nft_batches import batches
for batch in batches():
    batch.apply()
"""


def test_kernel_state_equals_nft_f(make_netns: Callable[[str], str]) -> None:
    by_nft, by_us = make_netns("nftf"), make_netns("nftb")
    assert nft(by_nft, "-f", "-", stdin="".join(b.text() for b in batches())).returncode == 0
    code = APPLY.format(tests=str(Path(__file__).parent.parent))
    done = subprocess.run(["ip", "netns", "exec", by_us, sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert _state(by_us) == _state(by_nft)
    assert _state(by_us)  # not two empty rulesets


def test_a_refused_batch_applies_nothing(make_netns: Callable[[str], str]) -> None:
    """A transaction the kernel refuses (elements for a table that does not exist) is
    refused whole, its first failure named, and the kernel holds nothing of it."""
    netns = make_netns("nftbad")
    code = """
from cni._native import PortmapRules
from cni.errors import NetlinkError
*skeletons, add = PortmapRules("n", "c", "eth0", "10.88.0.5/16", [(80, 80, "tcp", None)]).nft_batches()
try:
    add.apply()  # no skeleton: the table is missing
except NetlinkError as err:
    print(err.errno, err.operation)
"""
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code], capture_output=True, check=False)
    errno_text, _, operation = done.stdout.decode().strip().partition(" ")
    assert errno_text == "2", done  # ENOENT
    assert operation.startswith("add element ip cni_portmap any_dnat { tcp . 80 ")
    assert nft(netns, "list", "ruleset").stdout == ""
