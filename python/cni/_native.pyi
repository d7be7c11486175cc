# SPDX-License-Identifier: Apache-2.0
"""The Rust extension. Private: use the public modules of `cni`."""

__all__ = ["dumps", "loads"]

def loads(data: str | bytes) -> object:
    """Parses one JSON document.

    Stricter than `json.loads`: a repeated object key or NaN/Infinity is refused.

    Raises:
        cni.errors.DecodingFailure: not valid JSON, or a duplicate key (CNI code 6).
        cni.errors.IOFailure: nested deeper than 64 levels (CNI code 5).
    """

def dumps(obj: object, indent: int | None = None) -> str:
    """Serialises dicts (str keys), lists, tuples, str, int, float, bool and None.

    Raises:
        TypeError: another type, or a non-str key.
        ValueError: a NaN or infinite float.
    """
