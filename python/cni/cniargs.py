# SPDX-License-Identifier: Apache-2.0
"""CNI_ARGS: the deprecated `K=V;K=V` environment variable, parsed and built safely."""

from __future__ import annotations

from cni.errors import InvalidEnvironmentVariables

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_IGNORE_UNKNOWN = "IgnoreUnknown"


def parse(text: str) -> list[tuple[str, str]]:
    """Splits CNI_ARGS into ordered pairs; a pair that is not exactly `K=V` is an error."""
    pairs: list[tuple[str, str]] = []
    if not text:
        return pairs
    for item in text.split(";"):
        kv = item.split("=")
        if len(kv) != 2 or not kv[0]:
            raise InvalidEnvironmentVariables(f"invalid CNI_ARGS pair {item!r}: expected KEY=VALUE")
        pairs.append((kv[0], kv[1]))
    return pairs


def load(text: str, known: Iterable[str]) -> dict[str, str]:
    """Parses CNI_ARGS for a plugin that understands the keys in `known`.

    As in the Go library, an unknown key is an error unless the runtime sent
    `IgnoreUnknown=1` (or `true`, in any case).
    """
    pairs = parse(text)
    ignore_unknown = any(k == _IGNORE_UNKNOWN and v.lower() in ("1", "true") for k, v in pairs)
    accepted = set(known)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key == _IGNORE_UNKNOWN:
            continue
        if key not in accepted:
            if ignore_unknown:
                continue
            raise InvalidEnvironmentVariables(
                f"unknown CNI_ARGS key {key!r}",
                "the runtime may send IgnoreUnknown=1 to let plugins skip keys they do not know",
            )
        out[key] = value
    return out


def build(pairs: Iterable[tuple[str, str]] | dict[str, str]) -> str:
    """Joins pairs into CNI_ARGS, refusing any key or value that would change its parse.

    The Go library joins without escaping, so a value such as `x;IP=10.0.0.5` injects a
    key; we refuse it instead.
    """
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = []
    for key, value in items:
        if not key or any(c in key for c in ";=\0") or any(c in value for c in ";=\0"):
            raise InvalidEnvironmentVariables(
                f"cannot pass CNI_ARGS {key!r}={value!r}: keys and values may not contain ';', '=' or NUL"
            )
        out.append(f"{key}={value}")
    return ";".join(out)
