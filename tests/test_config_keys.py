# SPDX-License-Identifier: Apache-2.0
"""Every declared key of every plugin we ship, given a value of the wrong type and values of
the right type but out of range: code 7, a message naming the key, never 999 (issue 8).

The keys come from each plugin's own table (:mod:`cni.plugins._fields`), which the SDK checks
before any handler runs. The plugins run in this process with a CNI_NETNS that does not
exist: a value the table let through would reach the namespace check (code 8), so no
test here can touch the machine's network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cni.plugins._fields import Field
from cni.plugins.registry import PLUGINS, Entry

WRONG_TYPE: dict[str, object] = {"boolean": "yes", "integer": "5", "string": 5, "array": {"x": 1}, "object": [1]}
OUT_OF_RANGE_STRINGS: dict[str, list[str]] = {
    "mac": ["zz", "02:42:ac:11:00", "02:42:ac:11:00:0g"],
    "ip": ["300.1.1.1", "10.0.0.1/24", "fe80::zz"],
    "cidr": ["10.0.0.0/33", "10.0.0.1", "nonsense/8"],
    "ifname": ["x" * 16, "a/b", "a:b", "."],
    "path": [""],
}
# Lists of the right type whose entries are not: each kind of entry a plugin takes is here.
BAD_ENTRIES: list[object] = [
    12345,
    {"dst": "10.0.0.0/99"},
    {"subnet": "10.0.0.0/99"},
    [{"subnet": "10.1.0.0/16", "gateway": "300.0.0.1"}],
    {"id": 5000},
    {"minID": 0, "maxID": 10},
    {"address": "1.2.3.4/99"},
    "not-an-address",
]


def declared(entry: Entry) -> tuple[Field, ...]:
    fields = entry.plugin().fields
    return fields() if fields is not None else ()


def cases() -> list[tuple[str, str, object]]:
    out = []
    for entry in PLUGINS:
        for field in declared(entry):
            kind = str(field.schema["type"])
            out.append((entry.type, field.path, WRONG_TYPE[kind]))
            if kind == "integer":
                out += [
                    (entry.type, field.path, int(str(field.schema["maximum"])) + 1),
                    (entry.type, field.path, int(str(field.schema["minimum"])) - 1),
                ]
            elif kind == "string" and "enum" in field.schema:
                out.append((entry.type, field.path, "no-such-mode"))
            elif kind == "string" and "format" in field.schema:
                out += [(entry.type, field.path, v) for v in OUT_OF_RANGE_STRINGS[str(field.schema["format"])]]
            elif kind == "array":
                out += [(entry.type, field.path, [bad]) for bad in BAD_ENTRIES if field.check([bad])]
    return out


def with_key(plugin_type: str, path: str, value: object) -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": "1.1.0", "name": "keys", "type": plugin_type}
    node = conf
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return conf


def run_add(plugin_type: str, conf: dict[str, Any]) -> dict[str, Any]:
    from cni.plugins import registry

    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "keys",
        "CNI_NETNS": "/nonexistent/netns",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/nonexistent",
    }
    out, err = io.StringIO(), io.StringIO()
    status = registry.run(plugin_type, env=env, stdin=io.BytesIO(json.dumps(conf).encode()), stdout=out, stderr=err)
    assert status == 1
    answer: dict[str, Any] = json.loads(out.getvalue())
    return answer


@pytest.mark.parametrize(("plugin_type", "path", "value"), cases())
def test_every_key_refuses_bad_values_with_code_7_naming_it(
    plugin_type: str, path: str, value: object, tmp_path: Path
) -> None:
    conf = with_key(plugin_type, path, value)
    store = tmp_path / "store"
    if path != "ipam.dataDir":
        conf.setdefault("ipam", {}).setdefault("dataDir", str(store))
    answer = run_add(plugin_type, conf)
    assert answer["code"] == 7, answer
    assert path in answer["msg"], answer
    assert not store.exists(), "refused before any reservation"


def test_every_plugin_declares_its_keys() -> None:
    """Each shipped plugin has a table (loopback and dummy read none of their own)."""
    without = sorted(e.type for e in PLUGINS if not declared(e))
    assert without == ["dummy", "loopback"]
    for entry in PLUGINS:
        paths = [f.path for f in declared(entry)]
        assert len(paths) == len(set(paths)), entry.type


def test_good_values_pass_the_table() -> None:
    """The table refuses only what is wrong: the values of the reference's docs pass."""
    good: dict[str, object] = {
        "mac": "02:42:ac:11:00:02",
        "vlanTrunk": [{"id": 101}, {"minID": 200, "maxID": 299}],
        "ipam.ranges": [[{"subnet": "10.1.0.0/16", "rangeStart": "10.1.0.10", "gateway": "10.1.0.1"}]],
        "ipam.routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
        "runtimeConfig.ips": ["10.1.0.5/16"],
    }
    fields: list[Field] = [f for e in PLUGINS for f in declared(e)]
    for field in fields:
        if field.path in good and good[field.path] is not None:
            assert field.check(good[field.path]) is None, field.path


def test_schema_of_a_plugin_is_built_from_its_table() -> None:
    from cni.plugins._fields import schema
    from cni.plugins.registry import find

    entry = find("bridge")
    assert entry is not None
    doc = schema(declared(entry), "bridge")
    props = doc["properties"]
    assert isinstance(props, dict)
    assert props["mtu"]["maximum"] == 65535
    assert props["runtimeConfig"]["properties"]["mac"]["format"] == "mac"
