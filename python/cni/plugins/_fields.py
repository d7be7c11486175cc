# SPDX-License-Identifier: Apache-2.0
"""Declarative config keys: what each plugin accepts, checked before any handler runs.

Each plugin declares its keys as a tuple of :class:`Field` (in its :class:`cni.skel.Plugin`).
The SDK checks every declared key before the verb's handler runs, so a handler only ever
sees values of the right type and range, nothing of the wrong type reaches the Rust core
(where it would be a bug, code 999), and every refusal is code 7 naming the key, as
`plugin.bridge: invalid config: mac 'zz' must be a MAC address (six hex pairs)`. The same
tables give `cni schema <plugin>`.

A key is a dotted path from the config's top (`ipam.dataDir`, `runtimeConfig.mac`); null
counts as absent, as for Go's decoder. Lean on purpose: the plugin path imports it.
"""

from __future__ import annotations

from cni.errors import InvalidNetworkConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_HEX = frozenset("0123456789abcdefABCDEF")
UINT32 = 0xFFFFFFFF


class Field:
    """One config key: its path, JSON Schema type, and the check of a present value.

    A key that only says what to create (portmap's mappings) may be `ignored_by_del`: a DEL
    must still remove what an ADD made even when such a value is bad (the ADD refused it, so
    it made nothing of it)."""

    __slots__ = ("check", "doc", "ignored_by_del", "path", "schema")

    def __init__(self, path: str, check: Callable[[object], str | None], schema: dict[str, object], doc: str) -> None:
        self.path = path
        self.check = check
        self.schema = schema
        self.doc = doc
        self.ignored_by_del = False

    def lookup(self, conf: dict[str, object]) -> object:
        value: object = conf
        for part in self.path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def check_fields(conf: dict[str, object], fields: tuple[Field, ...], plugin: str, *, deleting: bool = False) -> None:
    """Raises code 7 for the first declared key whose value is not acceptable."""
    for field in fields:
        if deleting and field.ignored_by_del:
            continue
        value = field.lookup(conf)
        if value is None:
            continue
        problem = field.check(value)
        if problem:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise InvalidNetworkConfig(f"{plugin}: invalid config: {field.path} {shown} {problem}")


def schema(fields: tuple[Field, ...], title: str) -> dict[str, object]:
    """A JSON Schema of the keys (nested objects for dotted paths); other keys are allowed."""
    root: dict[str, object] = {"title": title, "type": "object", "properties": {}}
    for field in fields:
        node = root
        *parents, leaf = field.path.split(".")
        for part in parents:
            props = node["properties"]
            assert isinstance(props, dict)
            node = props.setdefault(part, {"type": "object", "properties": {}})
        props = node["properties"]
        assert isinstance(props, dict)
        props[leaf] = {**field.schema, "description": field.doc}
    return root


# --- kinds of keys ----------------------------------------------------------------------------


def boolean(path: str, doc: str) -> Field:
    return Field(path, lambda v: None if isinstance(v, bool) else "must be true or false", {"type": "boolean"}, doc)


def integer(path: str, low: int, high: int, doc: str) -> Field:
    def check(value: object) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be an integer"
        if not low <= value <= high:
            return f"must be from {low} to {high}"
        return None

    return Field(path, check, {"type": "integer", "minimum": low, "maximum": high}, doc)


def string(path: str, doc: str, *, check: Callable[[str], str | None] | None = None, form: str = "") -> Field:
    """A string key; `check` refuses values of the right type, `form` names their kind (the
    JSON Schema `format`: mac, ip, cidr, ifname, path)."""

    def typed(value: object) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        return check(value) if check is not None else None

    return Field(path, typed, {"type": "string", "format": form} if form else {"type": "string"}, doc)


def choice(path: str, options: tuple[str, ...], doc: str) -> Field:
    def check(value: object) -> str | None:
        if value not in options or not isinstance(value, str):
            return f"must be one of {', '.join(options)}"
        return None

    return Field(path, check, {"type": "string", "enum": list(options)}, doc)


def ifname(path: str, doc: str) -> Field:
    from cni.netconf import ifname_problem

    return string(path, doc, check=ifname_problem, form="ifname")


def mac(path: str, doc: str) -> Field:
    return string(path, doc, check=mac_problem, form="mac")


def address(path: str, doc: str) -> Field:
    return string(path, doc, check=address_problem, form="ip")


def cidr(path: str, doc: str) -> Field:
    return string(path, doc, check=cidr_problem, form="cidr")


def path_string(path: str, doc: str) -> Field:
    return string(path, doc, check=lambda v: None if v else "may not be empty", form="path")


def items(path: str, doc: str, item: Callable[[object], str | None], item_schema: dict[str, object]) -> Field:
    """A list whose every element passes `item`."""
    return Field(path, each(item), {"type": "array", "items": item_schema}, doc)


def each(item: Callable[[object], str | None]) -> Callable[[object], str | None]:
    """The check of a list whose every element passes `item`."""

    def check(value: object) -> str | None:
        if not isinstance(value, list):
            return "must be a list"
        for n, element in enumerate(value):
            problem = item(element)
            if problem:
                return f"entry {n} {problem}"
        return None

    return check


def obj(
    path: str, doc: str, keys: dict[str, Callable[[object], str | None]], *, required: tuple[str, ...] = ()
) -> Field:
    return Field(path, object_check(keys, required), {"type": "object"}, doc)


def object_check(
    keys: dict[str, Callable[[object], str | None]], required: tuple[str, ...] = ()
) -> Callable[[object], str | None]:
    """The check of an object whose listed keys (null: absent) must pass their checks."""

    def check(value: object) -> str | None:
        if not isinstance(value, dict):
            return "must be an object"
        for key in required:
            if value.get(key) is None:
                return f"needs {key}"
        for key, key_check in keys.items():
            if value.get(key) is not None:
                problem = key_check(value[key])
                if problem:
                    return f"{key} {problem}"
        return None

    return check


# --- value checks ------------------------------------------------------------------------------


def mac_problem(value: object) -> str | None:
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) == 6 and all(len(p) == 2 and p[0] in _HEX and p[1] in _HEX for p in parts):
            return None
    return "must be a MAC address (six hex pairs, as 02:42:ac:11:00:02)"


def address_problem(value: object) -> str | None:
    from cni._native import parse_ip_text

    if not isinstance(value, str):
        return "must be an IP address"
    try:
        parse_ip_text(value)
    except ValueError:
        return "must be an IP address"
    return None


def cidr_problem(value: object) -> str | None:
    from cni._native import parse_cidr_text

    if not isinstance(value, str):
        return "must be an address with a prefix length (CIDR)"
    try:
        parse_cidr_text(value)
    except ValueError:
        return "must be an address with a prefix length (CIDR)"
    return None


def uint32_check(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT32:
        return None
    return f"must be an integer from 0 to {UINT32}"


ROUTE = object_check(
    {"dst": cidr_problem, "gw": address_problem, "mtu": uint32_check, "priority": uint32_check, "table": uint32_check},
    required=("dst",),
)
ROUTE_SCHEMA: dict[str, object] = {"type": "object", "required": ["dst"]}


# --- keys several plugins share ------------------------------------------------------------------

MTU = integer("mtu", 0, 65535, "MTU of the interface (0: the kernel's default)")
MASTER = ifname("master", "the node interface to attach to (default: the IPv4 default route's)")
LINK_IN_CONTAINER = boolean("linkInContainer", "the master lives in the container's namespace")
IP_MASQ = boolean("ipMasq", "masquerade traffic leaving the node from the container's addresses")
IP_MASQ_BACKEND = choice("ipMasqBackend", ("iptables", "nftables"), "how masquerading is installed")


def macs(*paths: str) -> tuple[Field, ...]:
    """The MAC a runtime or the config may ask for, at each place it may be given."""
    return tuple(mac(p, "MAC address of the container's interface") for p in paths)


REQUESTED_MAC = macs("mac", "runtimeConfig.mac", "args.cni.mac")
