# SPDX-License-Identifier: Apache-2.0
"""The plugins' lean config checker and the pydantic models accept and refuse the same configs.

Plugins validate with :mod:`cni.netconf` (no pydantic on their start-up path); the runtime,
CLI and API validate with :mod:`cni.models`. Both take their rules from `cni.netconf`; these
property tests show the two layers give the same verdict and the same error code.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cni.errors import CNIError
from cni.models import NetConf, parse_netconf
from cni.netconf import PLUGIN_FIELDS, check_plugin_conf

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
any_json = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)
ids = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,12}", fullmatch=True)
types = st.text(min_size=1, max_size=10).filter(lambda s: s not in (".", ".."))
str_lists = st.lists(st.text(max_size=6), max_size=3)
dns = st.fixed_dictionaries(
    {},
    optional={
        "nameservers": str_lists | any_json,
        "domain": st.text(max_size=6) | any_json,
        "search": str_lists,
        "options": str_lists,
        "extra": any_json,
    },
)
ipam = st.fixed_dictionaries({}, optional={"type": types | any_json, "subnet": any_json})

# For each common key: values of the right shape, mixed with anything at all.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cniVersion": st.sampled_from(["1.1.0", "0.4.0", "1.0"]) | any_json,
    "name": ids | st.sampled_from(["", "../x", "a/b", ".x", "a\0", "ä"]) | any_json,
    "type": types | st.sampled_from(["../../bin/sh", "a\\b", "."]) | any_json,
    "capabilities": st.dictionaries(st.text(max_size=6), st.booleans(), max_size=3) | any_json,
    "runtimeConfig": st.dictionaries(st.text(max_size=6), any_json, max_size=3) | any_json,
    "args": st.dictionaries(st.text(max_size=6), any_json, max_size=3) | any_json,
    "ipMasq": st.booleans() | any_json,
    "ipam": ipam | any_json,
    "dns": dns | any_json,
    "prevResult": st.dictionaries(st.text(max_size=6), any_json, max_size=2) | any_json,
}


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    for key, values in VALUES.items():
        # Required keys are usually present so that later keys get exercised too.
        present = draw(st.booleans()) or (key in ("name", "type") and draw(st.integers(0, 9)) > 0)
        if present:
            conf[key] = draw(values)
    conf.update(draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k not in VALUES), any_json, max_size=2)))
    return conf


def verdict_lean(conf: object) -> int | None:
    try:
        check_plugin_conf(conf)
    except CNIError as err:
        return err.code
    return None


def verdict_pydantic(conf: object) -> int | None:
    try:
        parse_netconf(conf)
    except CNIError as err:
        return err.code
    return None


@settings(max_examples=1500)
@given(configs())
@example({"name": "n", "type": "t", "cniVersion": None})
@example({"name": "n", "type": "t", "ipMasq": None, "dns": {"nameservers": None}})
@example({"name": "n", "type": "t", "capabilities": {"portMappings": 1}})
@example({"name": "n", "type": "t", "ipam": {"type": "../x"}})
@example({"name": "n", "type": "t", "ipMasq": "true"})
@example({"cniVersion": 1, "name": "../x"})
def test_lean_and_pydantic_agree(conf: dict[str, Any]) -> None:
    assert verdict_lean(conf) == verdict_pydantic(conf)


@given(any_json)
def test_agree_on_non_objects(value: object) -> None:
    assert verdict_lean(value) == verdict_pydantic(value)


def test_models_declare_exactly_the_checked_keys_in_order() -> None:
    declared = [field.alias or name for name, field in NetConf.model_fields.items()]
    assert declared == list(PLUGIN_FIELDS)


def test_unknown_keys_pass_through_both_layers() -> None:
    conf = {"cniVersion": "1.1.0", "name": "n", "type": "bridge", "bridge": "cni0", "isGateway": True}
    assert check_plugin_conf(dict(conf)) == conf
    assert parse_netconf(conf).model_dump(by_alias=True, exclude_unset=True) == conf
