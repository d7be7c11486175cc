# SPDX-License-Identifier: Apache-2.0
"""The sbr plugin: source-based routing for the pod's interface (chained).

Keys of the reference (upstream's newest code): `table` (only a rule per address to that
table, the routes left alone), else, per address of the interface, a rule `from <addr>
lookup <T>` to the first free table from 100 (no rule and no route uses it), a default
route there via the address's gateway (or `gateways`: at most one IPv4 and one IPv6,
which take precedence), and the interface's main-table routes copied there, as the
reference picks them; then the interface's routes leave the main table, or, with
`addSourceHints`, its subnet routes stay there with the address as source hint and the
others leave. The namespace is flocked (its path, as the reference does) for the work.
Where ours differs on purpose: with `gateways`, the main table's default route of that
family is not copied into the table (upstream copies it after adding the static one, with
replace, so the static gateway is lost).

Ours adds `dataDir` (default `/run/cni/sbr`): ADD records its whole plan before it
changes anything, so DEL puts the main table back as it was, removes the tables' routes
and the rules (the reference only removes rules), after a crash too; without a record (an
ADD of the reference's) DEL removes the rules whose source is an address of the
interface, as the reference does. CHECK compares the recorded rules and routes; GC drops
the records of lost attachments (their namespace went with them).
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni._native import Netlink, Route
    from cni.plugins._fields import Field
    from cni.plugins._records import Records

ABOUT = "sbr plugin (cni package)"
DEFAULT_DATA_DIR = "/run/cni/sbr"
FIRST_TABLE = 100
MAIN = 254
RESERVED_TABLES = (253, 254, 255)
SCOPE_LINK = 253
RTN_UNICAST = 1
LOCK_WAIT = 30.0
_ENOENT, _ESRCH, _EEXIST, _ENODEV = 2, 3, 17, 19


def _table_problem(value: object) -> str | None:
    from cni.plugins._fields import UINT32

    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= UINT32:
        return f"must be a routing table from 1 to {UINT32}"
    if value in RESERVED_TABLES:
        return "is a table of the kernel's own (253 default, 254 main, 255 local)"
    return None


def _gateways_problem(value: object) -> str | None:
    from cni.plugins._fields import address_problem

    if not isinstance(value, list):
        return "must be a list of at most one IPv4 and one IPv6 address"
    families = []
    for n, gateway in enumerate(value):
        problem = address_problem(gateway)
        if problem:
            return f"entry {n} {problem}"
        families.append(":" in str(gateway))
    if len(families) != len(set(families)):
        return "may hold one IPv4 and one IPv6 address, no more"
    return None


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import UINT32, Field, boolean, path_string

    table_schema: dict[str, object] = {"type": "integer", "minimum": 1, "maximum": UINT32}
    keys = (
        Field("table", _table_problem, table_schema, "the routing table of the rules (routes left alone)"),
        Field("gateways", _gateways_problem, {"type": "array"}, "default gateways, one per family, over prevResult's"),
        boolean("addSourceHints", "keep the subnet routes in main with the address as source"),
    )
    for key in keys:
        key.ignored_by_del = True  # DEL undoes the recorded plan, whatever is asked now
    return (*keys, path_string("dataDir", f"where ADD records its plan (default {DEFAULT_DATA_DIR})"))


def _records(args: skel.CmdArgs) -> Records:
    from cni.plugins._records import Records

    return Records.of(args.conf, DEFAULT_DATA_DIR)


class _NetnsLock:
    """The reference's serialisation: a flock on the namespace's path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _NetnsLock:
        from cni.plugins._flock import acquire

        self.fd = acquire(self.path, LOCK_WAIT, create=False)
        return self

    def __exit__(self, *exc: object) -> None:
        import posix

        posix.close(self.fd)


def _interface_ips(args: skel.CmdArgs) -> list[dict[str, object]]:
    """prevResult's addresses of the interface (those naming no interface too)."""
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        raise InvalidNetworkConfig("sbr: missing prevResult: chain it after an interface plugin")
    from cni.conversion import convert

    result = convert(prev, versions.CURRENT, from_version=args.cni_version)
    interfaces = result.get("interfaces")
    interfaces = interfaces if isinstance(interfaces, list) else []
    ips = result.get("ips")
    chosen = []
    for ip in ips if isinstance(ips, list) else []:
        if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
            continue
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            iface = interfaces[index]
            if isinstance(iface, dict) and iface.get("name") != args.ifname:
                continue
        chosen.append(ip)
    if not chosen:
        raise InvalidNetworkConfig(f"sbr: prevResult has no address on {args.ifname}")
    return chosen


def _route(route: Route) -> dict[str, object]:
    return {
        "dst": route.dst,
        "gw": route.gw,
        "src": route.src,
        "scope": route.scope,
        "priority": route.priority,
        "protocol": route.protocol,
        "table": route.table,
    }


def _contains(cidr: str, address: object) -> bool:
    from cni._native import cidr_has

    return isinstance(address, str) and (":" in cidr) == (":" in address) and cidr_has(cidr, address)


def _network(cidr: str) -> str:
    from cni._native import network_of

    return network_of(cidr)


def _plan(args: skel.CmdArgs, pod: Netlink, index: int, ips: list[dict[str, object]]) -> dict[str, object]:
    """Everything ADD will do, computed before it does any of it."""
    table_key = args.conf.get("table")
    rules: list[dict[str, object]] = []
    added: list[dict[str, object]] = []
    removed: list[dict[str, object]] = []
    if isinstance(table_key, int):
        for ip in ips:
            address = str(ip["address"]).split("/")[0]
            rules.append({"src": address + ("/128" if ":" in address else "/32"), "table": table_key})
        return {"index": index, "rules": rules, "added": added, "removed": removed}
    routes = pod.routes(4) + pod.routes(6)
    used = {r.table for r in routes} | {r.table for family in (4, 6) for r in pod.rules(family)}
    mine = [r for r in routes if r.table == MAIN and r.oif == index and r.kind == RTN_UNICAST]
    statics = args.conf.get("gateways")
    static = {":" in g: g for g in statics if isinstance(g, str)} if isinstance(statics, list) else {}

    def free(candidate: int) -> int:
        while candidate in used:
            candidate += 1
        return candidate

    table = free(FIRST_TABLE)
    for ip in ips:
        cidr = str(ip["address"])
        address = cidr.split("/")[0]
        v6 = ":" in address
        rules.append({"src": address + ("/128" if v6 else "/32"), "table": table})
        gateway = static.get(v6) or ip.get("gateway")
        default = "::/0" if v6 else "0.0.0.0/0"
        if isinstance(gateway, str):
            added.append({"dst": default, "gw": gateway, "table": table})
        for route in mine:
            if v6 in static and route.dst == default:
                continue  # the static gateway's default is the table's (see the module's doc)
            # The reference's choice: a route from this address's subnet, via a gateway in
            # it, or neither (a route of the link, of either family).
            if _contains(cidr, route.src) or _contains(cidr, route.gw) or (route.src is None and route.gw is None):
                added.append({**_route(route), "table": table})
        table = free(table + 1)
    if args.conf.get("addSourceHints") is True:
        hinted = set()
        for ip in ips:
            cidr = str(ip["address"])
            subnet = _network(cidr)
            hinted.add(subnet)
            originals = [r for r in mine if r.dst == subnet]
            # The hinted route takes the original's place: the same metric, so it replaces it.
            removed += [_route(r) for r in originals]
            priority = originals[0].priority if originals else None
            added.append(
                {"dst": subnet, "src": cidr.split("/")[0], "scope": SCOPE_LINK, "table": MAIN, "priority": priority}
            )
        removed += [_route(r) for r in mine if r.scope != SCOPE_LINK and r.dst not in hinted]
    else:
        removed += [_route(r) for r in mine]
    return {"index": index, "rules": rules, "added": added, "removed": removed}


def _del_route(pod: Netlink, ifname: str, route: dict[str, object]) -> None:
    gw, priority, table = route.get("gw"), route.get("priority"), route.get("table")
    try:
        pod.del_route(
            str(route["dst"]),
            dev=ifname,
            table=table if isinstance(table, int) else None,
            gw=gw if isinstance(gw, str) else None,
            priority=priority if isinstance(priority, int) else None,
        )
    except NetlinkError as err:
        if err.errno not in (_ESRCH, _ENOENT, _ENODEV):
            raise


def _rule_family(rule: dict[str, object]) -> int:
    return 6 if ":" in str(rule.get("src")) else 4


def _apply(pod: Netlink, ifname: str, plan: dict[str, object]) -> None:
    from cni.plugins._iface import add_recorded_route

    for rule in _items(plan, "rules"):
        table = rule.get("table")
        assert isinstance(table, int)
        pod.add_rule(table=table, src=str(rule["src"]), family=_rule_family(rule))
    for route in _items(plan, "added"):
        add_recorded_route(pod, ifname, route)
    for route in _items(plan, "removed"):
        if not _replaced(plan, route):
            _del_route(pod, ifname, route)


def _replaced(plan: dict[str, object], route: dict[str, object]) -> bool:
    """Whether an added route took this main-table route's place (a source hint)."""
    return any(a.get("dst") == route.get("dst") and a.get("table") == MAIN for a in _items(plan, "added"))


def _undo(pod: Netlink, ifname: str, plan: dict[str, object]) -> None:
    """Takes back what the plan says ADD did, whatever part of it is done."""
    from cni.plugins._iface import add_recorded_route

    for rule in _items(plan, "rules"):
        table = rule.get("table")
        if not isinstance(table, int):
            continue
        try:
            pod.del_rule(table=table, src=str(rule["src"]), family=_rule_family(rule))
        except NetlinkError as err:
            if err.errno not in (_ENOENT, _ESRCH):
                raise
    link = pod.link(ifname)
    if link is None or link.index != plan.get("index"):
        return  # the interface went, and its routes with it
    for route in _items(plan, "added"):
        _del_route(pod, ifname, route)
    # The routes of the link before those via a gateway, which need them to be reachable.
    for route in sorted(_items(plan, "removed"), key=lambda r: r.get("gw") is not None):
        try:
            add_recorded_route(pod, ifname, route)
        except NetlinkError as err:
            if err.errno != _EEXIST:
                raise


def _items(plan: dict[str, object], key: str) -> list[dict[str, object]]:
    value = plan.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    from cni._native import Netlink
    from cni.conversion import convert

    ips = _interface_ips(args)
    records = _records(args)
    with _NetnsLock(args.netns):
        pod = Netlink(args.netns)
        link = pod.link(args.ifname)
        if link is None:
            raise CNIError(f"sbr: interface {args.ifname} not found in {args.netns}")
        plan = _plan(args, pod, link.index, ips)
        records.write(args.container_id, args.ifname, plan)
        try:
            _apply(pod, args.ifname, plan)
        except BaseException:
            _undo(pod, args.ifname, plan)
            records.remove(args.container_id, args.ifname)
            raise
    prev = args.conf["prevResult"]
    assert isinstance(prev, dict)
    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _tidy_like_the_reference(pod: Netlink, args: skel.CmdArgs) -> None:
    """No record: the rules whose source is an address of the interface go."""
    if pod.link(args.ifname) is None:
        return
    table = args.conf.get("table")
    addresses = {cidr.split("/")[0] for cidr in pod.addresses(args.ifname)}
    for family in (4, 6):
        for rule in pod.rules(family):
            if rule.src is None or rule.src.split("/")[0] not in addresses:
                continue
            if isinstance(table, int) and rule.table != table:
                continue
            pod.del_rule(table=rule.table, priority=rule.priority, src=rule.src, family=family)


def cmd_del(args: skel.CmdArgs) -> None:
    from cni.plugins._iface import open_pod

    records = _records(args)
    record = records.read(args.container_id, args.ifname)
    pod = open_pod(args)
    if pod is not None:
        with _NetnsLock(args.netns):
            if record is not None:
                _undo(pod, args.ifname, record)
            else:
                _tidy_like_the_reference(pod, args)
    records.remove(args.container_id, args.ifname)


def cmd_check(args: skel.CmdArgs) -> None:
    from cni._native import Netlink

    record = _records(args).read(args.container_id, args.ifname)
    if record is None:
        raise CNIError(f"sbr: no record of an ADD of {args.container_id}/{args.ifname}")
    pod = Netlink(args.netns)
    rules = {(r.src, r.table) for family in (4, 6) for r in pod.rules(family)}
    for rule in _items(record, "rules"):
        if (rule.get("src"), rule.get("table")) not in rules:
            raise CNIError(f"sbr: rule from {rule.get('src')} lookup {rule.get('table')} is missing")
    routes = {(r.dst, r.table, r.gw) for family in (4, 6) for r in pod.routes(family)}
    for route in _items(record, "added"):
        if (route.get("dst"), route.get("table"), route.get("gw")) not in routes:
            raise CNIError(f"sbr: route {route.get('dst')} in table {route.get('table')} is missing")


def cmd_gc(args: skel.CmdArgs) -> None:
    from cni.plugins._records import forget_lost

    forget_lost(_records(args), args.valid_attachments())


PLUGIN = skel.Plugin(
    "sbr",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    about=ABOUT,
    fields=fields,
)
