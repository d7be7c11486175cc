# SPDX-License-Identifier: Apache-2.0
"""Spec versions: the list we speak, parsing, ordering and per-verb minimums.

Lean on purpose (no `re`): plugins import it on every exec.
"""

from __future__ import annotations

from cni.errors import DecodingFailure, IncompatibleCNIVersion

#: Every version whose results we read and write, oldest first.
ALL: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
#: The spec version this library implements.
CURRENT = "1.1.0"
#: What a config or result without `cniVersion` means (the spec's original version).
DEFAULT = "0.1.0"

#: The oldest config version that allows each verb (CHECK 0.4.0; GC and STATUS 1.1.0).
MINIMUM_FOR_VERB: dict[str, str] = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


def parse(version: object) -> tuple[int, int, int]:
    """Parses `MAJOR.MINOR.PATCH` (missing parts count as 0, as in the Go library)."""
    parts = version.split(".") if isinstance(version, str) else []
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise DecodingFailure(f"invalid version {version!r}: expected MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in [*parts, "0", "0"][:3])
    return major, minor, patch


def at_least(version: str, minimum: str) -> bool:
    """Whether `version` is `minimum` or newer."""
    return parse(version) >= parse(minimum)


def check_verb_allowed(verb: str, version: str) -> None:
    """Raises code 1 when `version` is older than the minimum for `verb`."""
    minimum = MINIMUM_FOR_VERB.get(verb)
    if minimum is not None and not at_least(version, minimum):
        raise IncompatibleCNIVersion(
            f"config version {version} does not allow {verb}",
            f"{verb} needs cniVersion {minimum} or newer",
        )
