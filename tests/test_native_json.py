# SPDX-License-Identifier: Apache-2.0
"""The strict JSON codec in the Rust extension, seen from Python."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cni._native import dumps, loads
from cni.errors import DecodingFailure

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trips_and_agrees_with_stdlib(value: object) -> None:
    text = dumps(value)
    assert loads(text) == value
    assert json.loads(text) == value
    assert loads(json.dumps(value)) == value


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"a": 1,}', b"[1] [2]", b"\xff", b'"\xc3"', b"NaN", b"{'a': 1}", b'{"a": 1, "a": 1}'],
)
def test_refuses_bad_documents_with_code_6(data: bytes) -> None:
    with pytest.raises(DecodingFailure) as info:
        loads(data)
    assert info.value.code == 6


def test_duplicate_key_is_named() -> None:
    with pytest.raises(DecodingFailure, match='duplicate key "type"'):
        loads('{"ipam": {"type": "a", "type": "b"}}')


def test_nesting_is_bounded_with_code_6() -> None:
    """Too deep a document cannot be decoded (code 6); it is not an I/O failure (5)."""
    loads("[" * 64 + "]" * 64)
    with pytest.raises(DecodingFailure) as info:
        loads("[" * 65 + "]" * 65)
    assert info.value.code == 6
    assert "deeper than 64" in info.value.msg


def test_dumps_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        dumps({1: "non-str key"})
    with pytest.raises(TypeError):
        dumps({"a": object()})
    with pytest.raises(ValueError, match="NaN"):
        dumps(float("nan"))


def test_dumps_indents_like_json() -> None:
    value = {"a": [1, {"b": None}], "c": "é\n"}
    assert dumps(value, 4) == json.dumps(value, indent=4, ensure_ascii=False)
