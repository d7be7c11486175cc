# SPDX-License-Identifier: Apache-2.0
"""Running nft: applying transactions (the rule text comes from the Rust core), reading rules."""

from __future__ import annotations

import posix

from cni import _posix
from cni.errors import CNIError
from cni.invoke import Completed, run

_NFT_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
TIMEOUT = 30.0


def _nft(*args: str, stdin: bytes = b"") -> Completed:
    for directory in _NFT_DIRS:
        path = _posix.join(directory, "nft")
        if posix.access(path, posix.X_OK):
            return run(path, _ENV, stdin, timeout=TIMEOUT, args=args)
    raise CNIError("nft not found: this feature needs nftables")


def apply(script: str) -> None:
    """Runs one `nft -f -` transaction (all or nothing)."""
    if script:
        out = _nft("-f", "-", stdin=script.encode())
        if out.returncode != 0:
            raise CNIError(f"nft failed: {out.stderr.decode(errors='replace').strip()}", script)


def list_table(family: str, name: str) -> list[dict[str, object]]:
    """The objects of an nft table, with rule handles; empty when the table does not exist."""
    from cni._native import loads

    out = _nft("-j", "-a", "list", "table", family, name)
    if out.returncode != 0:
        return []
    doc = loads(out.stdout)
    items = doc.get("nftables") if isinstance(doc, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
