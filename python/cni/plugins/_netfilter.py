# SPDX-License-Identifier: Apache-2.0
"""Applying firewall rules for the chained plugins and ipMasq: choosing the backend,
running iptables-save and iptables-restore, and the one lock they share.

The rules themselves are built in the Rust core (`cni._native`: `PortmapRules`, `MasqRules`,
`ForwardRules`), which also sends nf_tables batches itself; this module only execs the
iptables tools. An iptables change is planned against what iptables-save printed and
applied with one `iptables-restore --noflush` per table and family, all under one lock, so
two of our plugins never plan against the same stale state.
"""

from __future__ import annotations

import posix

from cni import _posix
from cni.errors import CNIError, TryAgainLater
from cni.invoke import Completed, run

IPTABLES = "iptables"
NFTABLES = "nftables"
BACKENDS = (IPTABLES, NFTABLES)
LOCK_DIR = "/run/cni"
LOCK_NAME = "netfilter.lock"
_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
# iptables-restore waits this long for the xtables lock; past it, the runtime may retry.
XTABLES_WAIT = 10
TIMEOUT = 30.0


def _tool(name: str) -> str | None:
    for directory in _SBIN:
        path = _posix.join(directory, name)
        if posix.access(path, posix.X_OK):
            return path
    return None


def _exec(name: str, args: tuple[str, ...], stdin: bytes = b"") -> Completed:
    path = _tool(name)
    if path is None:
        raise CNIError(f"{name} not found: the iptables backend needs the iptables tools")
    return run(path, _ENV, stdin, timeout=TIMEOUT, args=args)


# How long a plugin waits for another one's firewall change before it gives up (code 11).
LOCK_WAIT = 30.0


# What iptables-save printed, per (IPv6, table), while our lock is held: the backend probe
# and the plan then read the table once, and a restore forgets its family's entries.
_saved: dict[tuple[bool, str], str] | None = None


class Lock:
    """An exclusive flock on `/run/cni/netfilter.lock` (O_CLOEXEC: a child keeps none),
    waited for at most LOCK_WAIT seconds: a hung holder makes us fail with code 11 (try
    again later), never hang with it."""

    def __init__(self) -> None:
        self.fd = -1

    def __enter__(self) -> Lock:
        from cni.plugins._flock import acquire

        _posix.makedirs(LOCK_DIR, 0o755)
        self.fd = acquire(_posix.join(LOCK_DIR, LOCK_NAME), LOCK_WAIT)
        global _saved
        _saved = {}
        return self

    def __exit__(self, *exc: object) -> None:
        global _saved
        _saved = None
        posix.close(self.fd)


def _prefix(v6: bool) -> str:
    return "ip6tables" if v6 else "iptables"


def save(v6: bool, table: str) -> str:
    """What iptables-save prints of one table (raises when iptables cannot be used); under
    our lock, read once until a restore of that family."""
    if _saved is not None and (v6, table) in _saved:
        return _saved[v6, table]
    out = _exec(f"{_prefix(v6)}-save", ("-t", table))
    if out.returncode != 0:
        reason = out.stderr.decode(errors="replace").strip() or f"exit status {out.returncode}"
        raise CNIError(f"{_prefix(v6)}-save -t {table} failed: {reason}")
    text = out.stdout.decode(errors="replace")
    if _saved is not None:
        _saved[v6, table] = text
    return text


def restore(v6: bool, script: str) -> None:
    """Applies one iptables-restore script (one table: all of it or nothing)."""
    if not script:
        return
    if _saved is not None:
        for key in [k for k in _saved if k[0] == v6]:
            del _saved[key]
    out = _exec(f"{_prefix(v6)}-restore", ("--noflush", "--wait", str(XTABLES_WAIT)), script.encode())
    if out.returncode == 0:
        return
    reason = out.stderr.decode(errors="replace").strip()
    if "xtables lock" in reason:
        raise TryAgainLater(f"{_prefix(v6)}-restore: {reason}", script)
    raise CNIError(f"{_prefix(v6)}-restore failed: {reason}", script)


def iptables_problem(table: str = "nat") -> str | None:
    """Why the iptables backend cannot be used here, or None (asked of `table`, the one
    the caller goes on to read)."""
    try:
        save(False, table)
    except CNIError as err:
        return err.msg
    return None


def nftables_problem() -> str | None:
    from cni._native import nft_usable

    return nft_usable()


def choose(requested: object, table: str = "nat") -> str:
    """The backend to use: the one requested, else iptables unless only nftables works
    (as the reference v1.9 chooses). Raises when the chosen one cannot work."""
    if requested in BACKENDS:
        assert isinstance(requested, str)
        problem = iptables_problem(table) if requested == IPTABLES else nftables_problem()
        if problem:
            raise CNIError(f"the {requested} backend cannot be used: {problem}")
        return requested
    ipt = iptables_problem(table)
    if ipt is None:
        return IPTABLES
    nft = nftables_problem()
    if nft is None:
        return NFTABLES
    raise CNIError(f"neither iptables nor nftables can be used: iptables: {ipt}; nftables: {nft}")


def status(plugin: str, requested: object) -> None:
    """STATUS of a firewall plugin: code 50 when its backend cannot work here."""
    from cni.errors import PluginNotAvailable

    try:
        choose(requested)
    except CNIError as err:
        raise PluginNotAvailable(f"{plugin}: {err.msg}") from None


def by_family(addrs: list[str]) -> list[tuple[bool, list[str]]]:
    """Addresses (or CIDRs) grouped by family, as (IPv6, addresses), only non-empty groups:
    each family is its own table (ip, ip6) and its own iptables tool."""
    groups = ((False, [a for a in addrs if ":" not in a]), (True, [a for a in addrs if ":" in a]))
    return [(v6, group) for v6, group in groups if group]


def usable() -> list[str]:
    """The backends that work here."""
    return [b for b, problem in ((IPTABLES, iptables_problem()), (NFTABLES, nftables_problem())) if problem is None]
