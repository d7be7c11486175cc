# SPDX-License-Identifier: Apache-2.0
"""The portmap plugin: host ports forwarded to the pod (chained after an interface plugin).

Keys of the reference: `runtimeConfig.portMappings` (`hostPort`, `containerPort`,
`protocol` tcp/udp/sctp, `hostIP`), `snat` (default true), `masqAll`, `markMasqBit`
(default 13), `externalSetMarkChain` (iptables only), `conditionsV4`/`conditionsV6`
(iptables syntax, or nftables syntax: address and interface-name matches, see
`rust/core/src/firewall/nft/condition.rs`) and `backend` (`iptables` unless only nftables works, as the reference
chooses). Ours adds `dataDir` (default `/run/cni/portmap`), where an ADD records what it
forwarded, so that DEL and GC remove it even when the runtime does not resend the mappings.

The rules are the Rust core's (`cni._native.PortmapRules`; the layout is described in
`rust/core/src/firewall/portmap.rs`). iptables: the reference's chains and names, so rules
either implementation made are removed by the other. nftables: our own tables
`cni_portmap`, where an attachment is set and map elements only (ADD and DEL cost the same
at any number of pods).
A contested (hostIP, hostPort, protocol) goes to the newest ADD: traffic never stays with
an older, possibly leaked, pod. The first address of each family on the container's
interface is forwarded to; localhost and hairpin connections are masqueraded (`snat`).
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import CNIError, InvalidNetworkConfig
from cni.plugins import _netfilter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni._native import PortmapRules
    from cni.plugins._fields import Field
    from cni.plugins._records import Records

ABOUT = "portmap plugin (cni package)"
DEFAULT_DATA_DIR = "/run/cni/portmap"
DEFAULT_MARK_BIT = 13
Mapping = tuple[int, int, str, "str | None"]


def _port_problem(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 65535:
        return None
    return "must be a port from 1 to 65535"


def _protocol_problem(value: object) -> str | None:
    if isinstance(value, str) and value.lower() in ("tcp", "udp", "sctp"):
        return None
    return "must be tcp, udp or sctp"


def _host_ip_problem(value: object) -> str | None:
    if value == "":
        return None
    from cni.plugins._fields import address_problem

    return address_problem(value)


def _condition_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if any(c in value for c in "\n\r\0"):
        return "may not hold a line break or NUL"
    return None


def _mapping_problem(value: object) -> str | None:
    from cni.plugins._fields import object_check

    return object_check(
        {
            "hostPort": _port_problem,
            "containerPort": _port_problem,
            "protocol": _protocol_problem,
            "hostIP": lambda v: "must be a string" if not isinstance(v, str) else _host_ip_problem(v),
        },
        required=("hostPort", "containerPort"),
    )(value)


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import boolean, choice, integer, items, path_string, string

    mappings = items(
        "runtimeConfig.portMappings", "the mappings the runtime asks for", _mapping_problem, {"type": "object"}
    )
    mappings.ignored_by_del = True
    return (
        choice("backend", _netfilter.BACKENDS, "iptables or nftables (default: iptables unless only nftables works)"),
        boolean("snat", "masquerade hairpin and localhost connections to mapped ports (default true)"),
        boolean("masqAll", "masquerade every connection to a mapped port"),
        integer("markMasqBit", 0, 31, "the packet mark bit that asks for masquerade (iptables; default 13)"),
        string("externalSetMarkChain", "an existing chain that marks for masquerade (iptables)"),
        items(
            "conditionsV4",
            "extra matches for IPv4 mappings (iptables or nft syntax)",
            _condition_problem,
            {"type": "string"},
        ),
        items(
            "conditionsV6",
            "extra matches for IPv6 mappings (iptables or nft syntax)",
            _condition_problem,
            {"type": "string"},
        ),
        mappings,
        path_string("dataDir", f"where ADD records what it forwarded (default {DEFAULT_DATA_DIR})"),
    )


def _conditions(conf: dict[str, object], key: str) -> list[str]:
    value = conf.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


class Config:
    """The keys, checked as the reference checks them."""

    __slots__ = ("backend", "conditions", "data_dir", "mappings", "mark_bit", "masq_all", "set_mark_chain", "snat")

    def __init__(self, conf: dict[str, object]) -> None:
        snat = conf.get("snat")
        self.snat = snat is not False
        self.masq_all = conf.get("masqAll") is True
        mark = conf.get("markMasqBit")
        chain = conf.get("externalSetMarkChain")
        if mark is not None and chain is not None:
            raise InvalidNetworkConfig("portmap: cannot specify both externalSetMarkChain and markMasqBit")
        self.mark_bit = mark if isinstance(mark, int) else DEFAULT_MARK_BIT
        self.set_mark_chain = chain if isinstance(chain, str) else None
        self.conditions = {4: _conditions(conf, "conditionsV4"), 6: _conditions(conf, "conditionsV6")}
        requested = conf.get("backend")
        # Which backend the keys imply: iptables syntax starts with `-` or `!` (the reference's rule).
        implied: dict[str, list[str]] = {_netfilter.IPTABLES: [], _netfilter.NFTABLES: []}
        if chain is not None:
            implied[_netfilter.IPTABLES].append("externalSetMarkChain")
        for key in ("conditionsV4", "conditionsV6"):
            value = conf.get(key)
            if isinstance(value, list) and value and isinstance(value[0], str):
                syntax = _netfilter.IPTABLES if value[0][:1] in ("-", "!") else _netfilter.NFTABLES
                implied[syntax].append(key)
        if implied[_netfilter.IPTABLES] and implied[_netfilter.NFTABLES]:
            raise InvalidNetworkConfig(
                f"portmap: {implied[_netfilter.IPTABLES]} need iptables but {implied[_netfilter.NFTABLES]} "
                "are in nftables syntax"
            )
        for backend, keys in implied.items():
            if keys and requested not in (None, backend):
                raise InvalidNetworkConfig(
                    f"portmap: the {requested} backend was requested but the configuration has {backend} options {keys}"
                )
        chosen = next((b for b, keys in implied.items() if keys), None)
        self.backend = requested if isinstance(requested, str) else chosen
        runtime = conf.get("runtimeConfig")
        raw = runtime.get("portMappings") if isinstance(runtime, dict) else None
        self.mappings: list[Mapping] = []
        for item in raw if isinstance(raw, list) else []:
            # fields() checked every entry, except for DEL: there a bad one was never applied.
            if not isinstance(item, dict) or _mapping_problem(item):
                continue
            protocol = item.get("protocol") or "tcp"
            host_ip = item.get("hostIP") or None
            assert isinstance(protocol, str)
            assert host_ip is None or isinstance(host_ip, str)
            self.mappings.append((int(item["hostPort"]), int(item["containerPort"]), protocol.lower(), host_ip))
        data_dir = conf.get("dataDir")
        self.data_dir = data_dir if isinstance(data_dir, str) else DEFAULT_DATA_DIR


def _records(config: Config, args: skel.CmdArgs) -> Records:
    from cni.plugins._records import Records

    return Records(config.data_dir, str(args.conf["name"]))


def _family(address: str) -> int:
    return 6 if ":" in address.split("/")[0] else 4


def _pod_addresses(args: skel.CmdArgs) -> dict[int, str]:
    """The first address of each family on the container's interface (prevResult)."""
    from cni.conversion import convert

    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        return {}
    result = convert(prev, versions.CURRENT, from_version=args.cni_version)
    interfaces = result.get("interfaces")
    interfaces = interfaces if isinstance(interfaces, list) else []
    found: dict[int, str] = {}
    ips = result.get("ips")
    for ip in ips if isinstance(ips, list) else []:
        if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
            continue
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            iface = interfaces[index]
            if not isinstance(iface, dict) or iface.get("name") != args.ifname or not iface.get("sandbox"):
                continue  # a host-side interface
        found.setdefault(_family(str(ip["address"])), str(ip["address"]))
    return found


def _mappings_for(mappings: list[Mapping], family: int) -> list[Mapping]:
    return [m for m in mappings if m[3] is None or _family(m[3]) == family]


def _rules(args: skel.CmdArgs, config: Config, pod: str, mappings: list[Mapping]) -> PortmapRules:
    from cni._native import PortmapRules

    family = _family(pod)
    return PortmapRules(
        str(args.conf["name"]),
        args.container_id,
        args.ifname,
        pod,
        mappings,
        snat=config.snat,
        masq_all=config.masq_all,
        mark_bit=config.mark_bit,
        set_mark_chain=config.set_mark_chain,
        conditions=config.conditions[family],
    )


# --- applying -------------------------------------------------------------------------------


def _apply(backend: str, rules: PortmapRules, v6: bool) -> None:
    if backend == _netfilter.NFTABLES:
        rules.nft_add()
    else:
        _netfilter.restore(v6, rules.iptables_add(_netfilter.save(v6, "nat")))


def _remove_iptables(network: str, container_id: str, families: tuple[int, ...] = (4, 6)) -> None:
    """Removes the attachment's iptables chains (what the reference made too)."""
    from cni._native import portmap_iptables_del

    for v6 in (family == 6 for family in families):
        try:
            saved = _netfilter.save(v6, "nat")
        except CNIError:
            continue  # this family's iptables is not usable: it holds nothing of ours
        _netfilter.restore(v6, portmap_iptables_del(saved, network, container_id))


def _remove(args: skel.CmdArgs, config: Config, entries: list[tuple[str, list[Mapping]]], backends: list[str]) -> None:
    if _netfilter.IPTABLES in backends:
        _remove_iptables(str(args.conf["name"]), args.container_id)
    if _netfilter.NFTABLES in backends:
        for pod, mappings in entries:
            _rules(args, config, pod, mappings).nft_del()


def _localnet(pod: str) -> None:
    """route_localnet on the node interface that routes to the pod, so that a connection to
    127.0.0.1:hostPort may be DNATed to it."""
    from cni._native import Netlink, cidr_has, write_sysctl

    node = Netlink()
    address = pod.split("/")[0]
    best: tuple[int, int] | None = None
    for route in node.routes(4):
        if route.table == 254 and route.oif is not None and cidr_has(route.dst, address):
            prefix = int(route.dst.split("/")[1])
            if best is None or prefix > best[0]:
                best = (prefix, route.oif)
    if best is None:
        return
    for link in node.links():
        if link.index == best[1]:
            write_sysctl(f"net.ipv4.conf.{link.name}.route_localnet", "1")
            return


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    conf = args.conf
    prev = conf.get("prevResult")
    if not isinstance(prev, dict):
        raise InvalidNetworkConfig("portmap: must be called as a chained plugin (no prevResult)")
    config = Config(conf)
    if not config.mappings:
        return prev
    pods = _pod_addresses(args)
    for _, _, _, host_ip in config.mappings:
        if host_ip is not None and _family(host_ip) not in pods:
            raise InvalidNetworkConfig(f"portmap: hostIP {host_ip} is of a family the container has no address of")
    entries = [(pod, _mappings_for(config.mappings, family)) for family, pod in sorted(pods.items())]
    entries = [(pod, mappings) for pod, mappings in entries if mappings]
    rules = [(pod, _rules(args, config, pod, mappings)) for pod, mappings in entries]  # checks every value
    records = _records(config, args)
    with _netfilter.Lock():
        backend = _netfilter.choose(config.backend)
        # Recorded first: a DEL after a crash at any later point finds what to remove.
        records.write(args.container_id, args.ifname, {"backend": backend, "entries": [[p, m] for p, m in entries]})
        try:
            for pod, rule in rules:
                _apply(backend, rule, _family(pod) == 6)
        except BaseException:
            _remove(args, config, entries, [backend])
            records.remove(args.container_id, args.ifname)
            raise
    for pod, _ in entries:
        if _family(pod) == 4 and config.snat:
            _localnet(pod)
    _flush_udp_conntrack(config.mappings)
    return prev


def _flush_udp_conntrack(mappings: list[Mapping]) -> None:
    """Drops conntrack entries of mapped UDP ports, which would keep sending a port's
    datagrams where they went before the mapping (failures are not the ADD's)."""
    from cni._native import conntrack_flush_udp_ports

    ports = sorted({m[0] for m in mappings if m[2] == "udp"})
    if ports:
        conntrack_flush_udp_ports(ports)


def _recorded(state: dict[str, object] | None) -> tuple[str | None, list[tuple[str, list[Mapping]]]]:
    if state is None:
        return None, []
    entries: list[tuple[str, list[Mapping]]] = []
    raw = state.get("entries")
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list):
            mappings = [
                (int(m[0]), int(m[1]), str(m[2]), m[3] if isinstance(m[3], str) else None)
                for m in item[1]
                if isinstance(m, list) and len(m) == 4 and isinstance(m[0], int) and isinstance(m[1], int)
            ]
            entries.append((item[0], mappings))
    backend = state.get("backend")
    return (backend if isinstance(backend, str) else None), entries


def _teardown(args: skel.CmdArgs, config: Config, state: dict[str, object] | None) -> None:
    backend, entries = _recorded(state)
    if backend == _netfilter.IPTABLES and entries:
        # The record says what the rules are: delete them without reading the whole table
        # first, and read it only when that does not apply (someone changed them).
        for pod, mappings in entries:
            v6 = _family(pod) == 6
            try:
                _netfilter.restore(v6, _rules(args, config, pod, mappings).iptables_del())
            except CNIError:
                _remove_iptables(str(args.conf["name"]), args.container_id, (_family(pod),))
        return
    if backend == _netfilter.NFTABLES and entries:
        _remove(args, config, entries, [backend])
        return
    # No record (an ADD by the reference plugin, say): wherever they can be.
    pods = _pod_addresses(args)
    entries = [(pod, _mappings_for(config.mappings, family)) for family, pod in sorted(pods.items())]
    _remove(args, config, [(p, m) for p, m in entries if m], _netfilter.usable())


def cmd_del(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    records = _records(config, args)
    with _netfilter.Lock():
        _teardown(args, config, records.read(args.container_id, args.ifname))
        records.remove(args.container_id, args.ifname)


def cmd_check(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    if not config.mappings:
        return
    state = _records(config, args).read(args.container_id, args.ifname)
    backend = _recorded(state)[0] or _netfilter.choose(config.backend)
    missing: list[str] = []
    for family, pod in sorted(_pod_addresses(args).items()):
        mappings = _mappings_for(config.mappings, family)
        if not mappings:
            continue
        rules = _rules(args, config, pod, mappings)
        if backend == _netfilter.NFTABLES:
            missing += rules.nft_check()
        else:
            missing += rules.iptables_check(_netfilter.save(family == 6, "nat"))
    if missing:
        raise CNIError(f"portmap: rules missing: {'; '.join(missing)}")


def cmd_gc(args: skel.CmdArgs) -> None:
    """Removes what ADDs of attachments no longer valid left: from their records, and the
    reference-layout iptables chains of this network's containers that are not valid."""
    from cni.plugins._records import valid_set

    config = Config(args.conf)
    valid = valid_set(args.valid_attachments())
    records = _records(config, args)
    with _netfilter.Lock():
        for container_id, ifname in list(records.stale(valid)):
            lost = skel.CmdArgs("DEL", container_id, "", ifname, "", args.path, b"", args.conf, args.env)
            _teardown(lost, config, records.read(container_id, ifname))
            records.remove(container_id, ifname)
        _gc_iptables(str(args.conf["name"]), {cid for cid, _ in valid})


def _gc_iptables(network: str, valid_ids: set[str]) -> None:
    from cni._native import portmap_iptables_stale

    for v6 in (False, True):
        try:
            saved = _netfilter.save(v6, "nat")
        except CNIError:
            continue
        for container_id in portmap_iptables_stale(saved, network, sorted(valid_ids)):
            _remove_iptables(network, container_id)


def cmd_status(args: skel.CmdArgs) -> None:
    _netfilter.status("portmap", Config(args.conf).backend)


PLUGIN = skel.Plugin(
    "portmap",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    status=cmd_status,
    about=ABOUT,
    fields=fields,
)
