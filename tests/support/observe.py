# SPDX-License-Identifier: Apache-2.0
"""The one state observer every leak check uses: what a namespace and the on-disk state
hold, read without our own code (pyroute2, nft, iptables-save, tc).

:func:`observe` takes a namespace's links (host veth names reduced to `veth*`, since each
ADD picks a random one), every address of both families, the routes of every table of
both families, the policy rules, the nftables rules and regular chains, the iptables and
ip6tables rules, the tc qdiscs, the forwarding sysctls, and when given the files of a
host-local store and of a result cache. Link-local IPv6 addresses and routes are left out:
a recreated link gets a new one, which is no leak. `infra` names links a test made itself
(and what is on them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

_COUNTERS = re.compile(r"\[\d+:\d+\]")
_SYSCTLS = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/route_localnet")


def _in(netns: str, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, timeout=60, check=False)


def _link_local(text: object) -> bool:
    return str(text).startswith(("fe80", "ff0"))  # link-local, and multicast scopes


def kernel(netns: str, infra: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """Links, addresses, routes (every table) and rules of `netns`, both families."""
    from pyroute2 import NetNS

    with NetNS(netns) as ns:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ns.get_links()}
        kept = {i: n for i, n in names.items() if n not in infra}

        def shown(index: object) -> str:
            name = kept.get(index) if isinstance(index, int) else None
            return "veth*" if name and name.startswith("veth") else str(name)

        links = sorted(shown(i) for i in kept)
        addresses = sorted(
            f"{shown(a['index'])} {a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ns.get_addr()
            if a["index"] in kept and not _link_local(a.get_attr("IFA_ADDRESS"))
        )
        routes = sorted(
            f"table {r.get_attr('RTA_TABLE')} {r.get_attr('RTA_DST') or 'default'}/{r['dst_len']}"
            f" via {r.get_attr('RTA_GATEWAY')} dev {shown(r.get_attr('RTA_OIF'))}"
            for family in (2, 10)
            for r in ns.get_routes(family=family)
            if (r.get_attr("RTA_OIF") is None or r.get_attr("RTA_OIF") in kept)
            and not _link_local(r.get_attr("RTA_DST"))
        )
        rules = sorted(
            f"{r['family']} {r.get_attr('FRA_PRIORITY')} table {r.get_attr('FRA_TABLE')}"
            f" from {r.get_attr('FRA_SRC')}/{r['src_len']} to {r.get_attr('FRA_DST')}/{r['dst_len']}"
            for family in (2, 10)
            for r in ns.get_rules(family=family)
        )
    return {"links": links, "addresses": addresses, "routes": routes, "rules": rules}


def nftables(netns: str) -> list[str]:
    """nftables rules, regular chains and set or map elements. Tables, base chains and
    sets are shared: DEL leaves them (as the reference's macspoofchk does), so a leak shows
    as a rule, a chain or an element (our firewall backends keep attachments as elements)."""
    out = _in(netns, ["nft", "-j", "list", "ruleset"])
    if out.returncode != 0:
        return [f"nft failed: {out.stderr.decode().strip()}"]
    found = []
    for item in json.loads(out.stdout)["nftables"]:
        if "rule" in item:
            rule = item["rule"]
            # Counters count whatever crossed the rule (an IGMP report of a port coming up):
            # traffic, not state.
            exprs = [{"counter": None} if "counter" in e else e for e in rule["expr"]]
            found.append(f"rule {rule['family']} {rule['table']} {rule['chain']} {json.dumps(exprs)}")
        elif "chain" in item and "hook" not in item["chain"]:
            chain = item["chain"]
            found.append(f"chain {chain['family']} {chain['table']} {chain['name']}")
        for kind in ("set", "map"):
            group = item.get(kind)
            if isinstance(group, dict):
                for elem in group.get("elem", []):
                    found.append(f"{kind} {group['family']} {group['table']} {group['name']} {json.dumps(elem)}")
    return sorted(found)


def iptables(netns: str) -> list[str]:
    """iptables and ip6tables rules and chains, without counters."""
    lines = []
    for tool in ("iptables-save", "ip6tables-save"):
        out = _in(netns, [tool])
        for line in out.stdout.decode().splitlines():
            if line and not line.startswith(("#", "*", "COMMIT")):
                bare = _COUNTERS.sub("", line).strip()
                lines.append(f"{tool.removesuffix('-save')} {bare}")
    return sorted(lines)


def qdiscs(netns: str) -> list[str]:
    """tc qdiscs that are not the kernel's defaults."""
    out = _in(netns, ["tc", "-j", "qdisc", "show"])
    if out.returncode != 0 or not out.stdout.strip():
        return []
    return sorted(
        f"{q.get('dev')} {q.get('kind')} {q.get('handle')}"
        for q in json.loads(out.stdout)
        if q.get("kind") not in ("noqueue", "pfifo_fast", "fq_codel", "mq", "noop")
    )


def sysctls(netns: str) -> dict[str, str]:
    out = _in(netns, ["cat", *(f"/proc/sys/{key}" for key in _SYSCTLS)])
    return dict(zip(_SYSCTLS, out.stdout.decode().split(), strict=False))


def files(directory: Path | None, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under `directory`, as relative paths, less those `skip` names (by file
    name, name prefix or relative path)."""
    if directory is None or not directory.exists():
        return []
    found = []
    for root, _, names in os.walk(directory):
        for name in names:
            path = Path(root) / name
            relative = str(path.relative_to(directory))
            if name in skip or name.startswith(skip) or relative in skip:
                continue
            found.append(relative)
    return sorted(found)


def observe(
    netns: str,
    *,
    infra: frozenset[str] | set[str] = frozenset(),
    store: Path | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Everything a plugin or the runtime could have left in `netns` and on disk."""
    return {
        **kernel(netns, infra),
        "nftables": nftables(netns),
        "iptables": iptables(netns),
        "qdiscs": qdiscs(netns),
        "sysctls": sysctls(netns),
        # The lock and the round-robin hint stay by design, as in the reference, and so
        # does the stamp of our index (rewritten by every operation).
        "store": files(store, skip=("lock", "last_reserved_ip.", ".cni-index/state")),
        "cache": files(cache, skip=("lock", "gc.lock")),
    }
