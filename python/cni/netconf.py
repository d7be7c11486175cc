# SPDX-License-Identifier: Apache-2.0
"""The rules for a plugin's configuration and for the identifiers CNI passes around.

This module is the single source of those rules. Plugins run it on every exec (it imports
nothing heavy: no `re`, no pydantic); the pydantic models in :mod:`cni.models.netconf` call the
same check functions for their fields, and a property test shows that both accept and refuse
the same configs with the same error codes.
"""

from __future__ import annotations

from cni.errors import CNIError, DecodingFailure, InvalidNetworkConfig

_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_REST = _ID_FIRST | frozenset("_.-")
_IFNAME_FORBIDDEN = frozenset("/:")
IFNAME_MAX = 15
_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))


def is_valid_id(value: object) -> bool:
    """Container IDs and network names: `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$` (the spec's rule)."""
    return isinstance(value, str) and value != "" and value[0] in _ID_FIRST and all(c in _ID_REST for c in value)


def ifname_problem(value: str) -> str | None:
    """Why `value` is not a usable interface name, or None when it is."""
    if not value:
        return "is empty"
    try:
        # Undecodable bytes in the environment arrive as surrogates: no file can hold them.
        encoded = value.encode()
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if len(encoded) > IFNAME_MAX:
        # The kernel's limit is in bytes (IFNAMSIZ less the NUL), as libcni counts.
        return f"is longer than {IFNAME_MAX} bytes"
    if value in (".", ".."):
        return "may not be '.' or '..'"
    if any(c in _IFNAME_FORBIDDEN or c.isspace() or c in _CONTROL for c in value):
        return "may not contain '/', ':', white space or control characters"
    return None


def split_path(cni_path: str) -> list[str]:
    """CNI_PATH entries that can be searched: absolute directories only.

    An empty entry (`a::b`) or a relative one would make lookup depend on the working
    directory, so both are dropped.
    """
    return [p for p in cni_path.split(":") if p.startswith("/")]


def plugin_type_problem(value: object) -> str | None:
    """Why `value` cannot name a plugin executable (CVE-2021-20206), or None."""
    if not isinstance(value, str):
        return "must be a string"
    if value in ("", ".", ".."):
        return "may not be empty, '.' or '..'"
    if any(c in "/\\\0" for c in value):
        return "may not contain a path separator or NUL"
    return None


# --- field checks: each takes the value and returns a problem, or None when valid --------


def _str(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _object(value: object) -> str | None:
    return None if isinstance(value, dict) else "must be an object"


def _str_list(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be a list of strings"
    return None


def _name(value: object) -> str | None:
    if not is_valid_id(value):
        return "must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
    return None


def _capabilities(value: object) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        return "must be an object of true/false values"
    return None


def _ipam(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    if value.get("type") is not None:
        problem = plugin_type_problem(value["type"])
        if problem:
            return f"type {problem}"
    return None


_DNS_FIELDS = {"nameservers": _str_list, "domain": _str, "search": _str_list, "options": _str_list}


def _dns(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    for key, check in _DNS_FIELDS.items():
        if value.get(key) is not None:
            problem = check(value[key])
            if problem:
                return f"{key} {problem}"
    return None


def _version(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: The keys every plugin config may carry: key -> (check, error class, required).
#: `cniVersion` of the wrong type is a decoding failure (code 6), as in the Go library;
#: every other problem is an invalid network config (code 7). Other keys pass through.
PLUGIN_FIELDS: dict[str, tuple[Callable[[object], str | None], type[CNIError], bool]] = {
    "cniVersion": (_version, DecodingFailure, False),
    "name": (_name, InvalidNetworkConfig, True),
    "type": (plugin_type_problem, InvalidNetworkConfig, True),
    "capabilities": (_capabilities, InvalidNetworkConfig, False),
    "runtimeConfig": (_object, InvalidNetworkConfig, False),
    "args": (_object, InvalidNetworkConfig, False),
    "ipMasq": (_bool, InvalidNetworkConfig, False),
    "ipam": (_ipam, InvalidNetworkConfig, False),
    "dns": (_dns, InvalidNetworkConfig, False),
    "prevResult": (_object, InvalidNetworkConfig, False),
}


def field_problem(key: str, value: object) -> str | None:
    """Why `value` is not valid for the common plugin key `key`, or None."""
    return PLUGIN_FIELDS[key][0](value)


def field_error(key: str, value: object, problem: str) -> CNIError:
    """The error for a bad common key, naming key and value."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return PLUGIN_FIELDS[key][1](f"invalid config: {key} {shown} {problem}")


_NUL_ONLY = frozenset("\0")
#: Keys whose strings are free-form metadata from the runtime (labels, annotations): they
#: become no path, name or attribute, so only NUL, which no consumer can take, is refused.
_FREE_FORM = frozenset({"args"})


def control_character_problem(value: object) -> str | None:
    """The key path of the first string in `value` holding a control character, or None.

    Strings of a config become paths, interface names and netlink attributes: a NUL there
    would cut them short (a bridge named after the part before it), and other control
    characters make names no tool can show. So none may appear, in keys or values,
    except in the free-form `args`, which may not hold NUL either.
    """
    found = _control_path(value, _CONTROL, top=True)
    if found is None:
        return None
    path = ""
    for part in reversed(found):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "value"


def _control_path(value: object, forbidden: frozenset[str], top: bool = False) -> list[str | int] | None:
    """Where (innermost part first) a control character is; the path is built only then,
    so a clean config with 10,000 routes costs a walk and no strings."""
    if isinstance(value, str):
        return [] if not forbidden.isdisjoint(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if not forbidden.isdisjoint(key):
                return [key]
            inner = _control_path(item, _NUL_ONLY if top and key in _FREE_FORM else forbidden)
            if inner is not None:
                return [*inner, key]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            inner = _control_path(item, forbidden)
            if inner is not None:
                return [*inner, index]
    return None


def check_plugin_conf(conf: object) -> dict[str, object]:
    """Validates the common keys of a plugin config; returns it typed as a dict.

    A key set to null counts as absent. Keys are checked in :data:`PLUGIN_FIELDS` order, so
    the first problem reported is the same whichever layer checks.
    """
    if not isinstance(conf, dict):
        raise DecodingFailure("invalid config: expected a JSON object")
    for key, (_, error, required) in PLUGIN_FIELDS.items():
        if conf.get(key) is None:
            # null means absent, as it does to Go's decoder.
            if required:
                raise error(f"invalid config: missing {key}")
            continue
        problem = field_problem(key, conf[key])
        if problem:
            raise field_error(key, conf[key], problem)
    check_control_characters(conf)
    return conf


def check_control_characters(conf: dict[str, object]) -> None:
    """Raises code 7 naming the first key whose string holds a control character."""
    where = control_character_problem(conf)
    if where:
        raise InvalidNetworkConfig(f"invalid config: {where} contains a control character (NUL, newline, ...)")
