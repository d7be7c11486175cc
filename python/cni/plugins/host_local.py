# SPDX-License-Identifier: Apache-2.0
"""The host-local IPAM plugin: addresses from local ranges, kept in a store on disk.

Every key of the reference: `ranges` (range sets) or the legacy `subnet`, `rangeStart`,
`rangeEnd`, `gateway`; `routes`, `dataDir`, `resolvConf`; `runtimeConfig.ipRanges`
(prepended) and requested addresses from `runtimeConfig.ips`, `args.cni.ips` and
CNI_ARGS `IP=`. The store is the reference's (see :mod:`cni.ipam.store`), with an index
that makes ADD and DEL independent of how many reservations exist. Beyond the reference:
GC releases reservations of attachments that are no longer valid (and ownerless files a
crash left), STATUS fails with code 50 when a range set is full, and range validation
refuses host bits and `rangeStart` after `rangeEnd`.
"""

from __future__ import annotations

from cni import cniargs, skel, versions
from cni._native import RangeSet
from cni.errors import AddressExhausted, AddressInUse, AddressOutOfRange, CNIError, InvalidNetworkConfig
from cni.ipam.store import DiskStore, Owner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "host-local IPAM plugin (cni package)"


class Config:
    """host-local's view of the config: range sets, requested addresses, routes, DNS."""

    __slots__ = ("data_dir", "name", "range_sets", "requested", "resolv_conf", "routes")

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        ipam = conf.get("ipam")
        if not isinstance(ipam, dict):
            raise InvalidNetworkConfig("IPAM config missing 'ipam' key")
        name = conf["name"]
        assert isinstance(name, str)
        self.name = name
        self.data_dir = _optional_str(ipam, "dataDir")
        self.resolv_conf = _optional_str(ipam, "resolvConf")
        routes = ipam.get("routes") or []
        if not isinstance(routes, list) or not all(
            isinstance(r, dict) and isinstance(r.get("dst"), str) for r in routes
        ):
            raise InvalidNetworkConfig("ipam.routes must be a list of objects with a dst")
        self.routes: list[dict[str, object]] = routes
        self.requested = _requested_ips(args, conf)
        self.range_sets = _range_sets(conf, ipam)

    def owner(self, args: skel.CmdArgs) -> Owner:
        return Owner(args.container_id, args.ifname)


def _optional_str(obj: dict[str, object], key: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidNetworkConfig(f"ipam.{key} must be a string, not {value!r}")
    return value


def _plain_ip(text: object, where: str) -> str:
    from cni._native import parse_ip_text

    if not isinstance(text, str):
        raise InvalidNetworkConfig(f"{where}: {text!r} is not an IP address")
    try:
        return parse_ip_text(text.split("/", 1)[0])[0]
    except ValueError:
        raise InvalidNetworkConfig(f"{where}: cannot understand ip {text!r}") from None


def _requested_ips(args: skel.CmdArgs, conf: dict[str, object]) -> list[str]:
    requested = []
    # As the reference: IP is the only key; others need IgnoreUnknown=1 (runtimes send it).
    env_args = cniargs.load(args.args, ["IP"])
    if env_args.get("IP"):
        requested.append(_plain_ip(env_args["IP"], "CNI_ARGS IP"))
    args_obj = conf.get("args")
    cni_args = args_obj.get("cni") if isinstance(args_obj, dict) else None
    if isinstance(cni_args, dict):
        for ip in cni_args.get("ips") or []:
            requested.append(_plain_ip(ip, "args.cni.ips"))
    runtime = conf.get("runtimeConfig")
    if isinstance(runtime, dict):
        for ip in runtime.get("ips") or []:
            requested.append(_plain_ip(ip, "runtimeConfig.ips"))
    return list(dict.fromkeys(requested))


def _set_list(value: object, where: str) -> list[list[dict[str, object]]]:
    if not isinstance(value, list) or not all(
        isinstance(s, list) and all(isinstance(r, dict) for r in s) for s in value
    ):
        raise InvalidNetworkConfig(f"{where} must be a list of range sets (lists of range objects)")
    return value


def _range_sets(conf: dict[str, object], ipam: dict[str, object]) -> list[RangeSet]:
    raw: list[list[dict[str, object]]] = []
    runtime = conf.get("runtimeConfig")
    if isinstance(runtime, dict) and runtime.get("ipRanges"):
        raw.extend(_set_list(runtime["ipRanges"], "runtimeConfig.ipRanges"))
    if ipam.get("subnet"):
        raw.append([{k: ipam.get(k) for k in ("subnet", "rangeStart", "rangeEnd", "gateway")}])
    if ipam.get("ranges"):
        raw.extend(_set_list(ipam["ranges"], "ipam.ranges"))
    if not raw:
        raise InvalidNetworkConfig("no IP ranges specified")
    sets = []
    for i, ranges in enumerate(raw):
        try:
            sets.append(RangeSet(ranges))
        except CNIError as err:
            raise InvalidNetworkConfig(f"invalid range set {i}: {err.msg}") from None
    families = [s.family for s in sets]
    version = conf.get("cniVersion") or versions.DEFAULT
    assert isinstance(version, str)
    if (families.count(4) > 1 or families.count(6) > 1) and not versions.at_least(version, "0.3.0"):
        raise InvalidNetworkConfig(f"CNI version {version} does not support more than 1 address per family")
    for i, a in enumerate(sets):
        for j in range(i + 1, len(sets)):
            if a.overlaps(sets[j]):
                raise InvalidNetworkConfig(f"range set {i} overlaps with {j}")
    return sets


def _parse_resolv_conf(path: str) -> dict[str, object]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise InvalidNetworkConfig(f"cannot read resolvConf {path}: {err.strerror}") from None
    nameservers: list[str] = []
    options: list[str] = []
    dns: dict[str, object] = {}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver":
            nameservers.append(values[0])
        elif key == "domain":
            dns["domain"] = values[0]
        elif key == "search":
            dns["search"] = values
        elif key == "options":
            options.extend(values)
    if nameservers:
        dns["nameservers"] = nameservers
    if options:
        dns["options"] = options
    return dns


def _allocate(store: DiskStore, config: Config, owner: Owner) -> list[dict[str, object]]:
    """Reserves one address per range set; on any failure releases what it took."""
    requested = list(config.requested)
    taken: list[str] = []
    try:
        ips = [_allocate_one(store, s, i, owner, requested, taken) for i, s in enumerate(config.range_sets)]
        _check_requests_used(requested)
        store.record(owner, taken)
    except BaseException:
        for ip in taken:
            store.release_ip(ip, owner)
        raise
    return ips


def _allocate_one(
    store: DiskStore, range_set: RangeSet, index: int, owner: Owner, requested: list[str], taken: list[str]
) -> dict[str, object]:
    """One address from `range_set`: a requested one if it lies there, else the next free."""
    wanted = next((ip for ip in requested if ip in range_set), None)
    if wanted is not None:
        requested.remove(wanted)
        range_index = range_set.check_request(wanted)
        if not store.reserve(wanted, owner):
            raise AddressInUse(f"requested IP address {wanted} is not available in range set {range_set}")
        ip = wanted
    else:
        ip, range_index = _next_free(store, range_set, index, owner)
    taken.append(ip)
    store.set_last_reserved(index, ip)
    prefix, gateway = range_set.range_info(range_index)
    entry: dict[str, object] = {"address": f"{ip}/{prefix}"}
    if gateway:
        entry["gateway"] = gateway
    return entry


def _check_requests_used(left: list[str]) -> None:
    if left:
        raise AddressOutOfRange(
            f"failed to allocate all requested IPs: {' '.join(left)}",
            "each must lie in a range set, and not be its gateway, network or broadcast address",
        )


def _next_free(store: DiskStore, range_set: RangeSet, index: int, owner: Owner) -> tuple[str, int]:
    last = store.last_reserved(index)
    while True:
        found = range_set.next_free(store.pool, last)
        if found is None:
            raise AddressExhausted(f"no IP addresses available in range set: {range_set}")
        range_index, ip = found
        if store.reserve(ip, owner):
            return ip, range_index
        # A file the index did not know of (planted, or a race with another writer): the
        # store marked it used; go on after it.
        last = ip


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    owner = config.owner(args)
    result: dict[str, object] = {"cniVersion": versions.CURRENT}
    if config.resolv_conf:
        dns = _parse_resolv_conf(config.resolv_conf)
        if dns:
            result["dns"] = dns
    with DiskStore(config.name, config.data_dir) as store:
        held = [ip for ip in store.addresses_of(owner) if any(ip in s for s in config.range_sets)]
        if held:
            raise InvalidNetworkConfig(
                f"{held[0]} has been allocated to {args.container_id}, duplicate allocation is not allowed"
            )
        result["ips"] = _allocate(store, config, owner)
    if config.routes:
        result["routes"] = config.routes
    return result


def cmd_del(args: skel.CmdArgs) -> None:
    config = Config(args)
    with DiskStore(config.name, config.data_dir) as store:
        store.release(config.owner(args))


def cmd_check(args: skel.CmdArgs) -> None:
    config = Config(args)
    owner = config.owner(args)
    with DiskStore(config.name, config.data_dir) as store:
        held = [ip for ip in store.addresses_of(owner) if store.holds(owner, ip)]
    if not held:
        raise CNIError(f"host-local: failed to find address added by container {args.container_id}")
    prev = args.conf.get("prevResult")
    expected = []
    if isinstance(prev, dict):
        for entry in prev.get("ips") or []:
            address = entry.get("address") if isinstance(entry, dict) else None
            if isinstance(address, str):
                ip = address.split("/", 1)[0]
                if any(ip in s for s in config.range_sets):
                    expected.append(ip)
    missing = [ip for ip in expected if ip not in held]
    if missing:
        raise CNIError(f"host-local: container {args.container_id} does not hold {', '.join(missing)}")


def cmd_gc(args: skel.CmdArgs) -> None:
    """Releases every reservation of this network whose attachment is not valid."""
    config = Config(args)
    valid = {(str(a.get("containerID", "")), str(a.get("ifname", ""))) for a in args.valid_attachments()}
    valid_ids = {cid for cid, _ in valid}
    with DiskStore(config.name, config.data_dir) as store:
        reservations, strays = store.scan()
        for ip, owner in reservations.items():
            if owner is not None:
                if (owner.container_id, owner.ifname) in valid:
                    continue
                if not owner.ifname and owner.container_id in valid_ids:
                    continue  # a legacy file names only the container
            store.release_ip(ip, None)
        store.remove_strays(strays)
        store.rebuild()


def cmd_status(args: skel.CmdArgs) -> None:
    from cni.errors import PluginNotAvailable

    config = Config(args)
    with DiskStore(config.name, config.data_dir) as store:
        for index, range_set in enumerate(config.range_sets):
            if range_set.free(store.pool) == 0:
                raise PluginNotAvailable(f"no free addresses in range set {index} ({range_set})")


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import (
        ROUTE,
        ROUTE_SCHEMA,
        address,
        address_problem,
        cidr,
        cidr_problem,
        each,
        items,
        object_check,
        path_string,
    )

    range_check = object_check(
        {
            "subnet": cidr_problem,
            "rangeStart": address_problem,
            "rangeEnd": address_problem,
            "gateway": address_problem,
        },
        required=("subnet",),
    )

    # A range set: a list of ranges.
    range_set_check = each(range_check)

    def _ip_or_cidr_problem(value: object) -> str | None:
        # As the reference: an address, or a CIDR whose address part is taken.
        text = value.split("/", 1)[0] if isinstance(value, str) else value
        return address_problem(text)

    return (
        items("ipam.ranges", "range sets: one address from each", range_set_check, {"type": "array"}),
        cidr("ipam.subnet", "the one range's subnet (legacy form)"),
        address("ipam.rangeStart", "first address to give out (legacy form)"),
        address("ipam.rangeEnd", "last address to give out (legacy form)"),
        address("ipam.gateway", "the gateway (legacy form)"),
        items("ipam.routes", "routes to return", ROUTE, ROUTE_SCHEMA),
        path_string("ipam.dataDir", "where reservations are kept (default /var/lib/cni/networks)"),
        path_string("ipam.resolvConf", "a resolv.conf whose DNS settings the result carries"),
        items("runtimeConfig.ipRanges", "range sets from the runtime, tried first", range_set_check, {"type": "array"}),
        items("runtimeConfig.ips", "addresses the runtime asks for", _ip_or_cidr_problem, {"type": "string"}),
        items("args.cni.ips", "addresses asked for in args", _ip_or_cidr_problem, {"type": "string"}),
    )


PLUGIN = skel.Plugin(
    "host-local", add=cmd_add, delete=cmd_del, check=cmd_check, gc=cmd_gc, status=cmd_status, about=ABOUT, fields=fields
)
