# SPDX-License-Identifier: Apache-2.0
"""Turning pydantic's validation errors into CNI errors that name key and value."""

from __future__ import annotations

from pydantic import ValidationError

from cni.errors import CNIError, InvalidNetworkConfig


def describe(err: ValidationError, what: str) -> str:
    """One line for the first problem: where it is, the value found and what is wrong."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or what
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"invalid {what}: missing {where}"
    shown = repr(first.get("input"))
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"invalid {what}: {where} {shown}: {message}"


def to_cni_error(err: ValidationError, what: str, codes: dict[str, type[CNIError]] | None = None) -> CNIError:
    """The CNI error for `err`: the class registered for its top-level key, else code 7."""
    first = err.errors()[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    cls = (codes or {}).get(key, InvalidNetworkConfig)
    return cls(describe(err, what))
