# SPDX-License-Identifier: Apache-2.0
"""The firewall plugin: lets forwarded traffic of the pod's addresses through (replies to
the pod, anything from it), after an admin chain the operator owns (chained).

Keys of the reference: `backend` (`iptables`; `firewalld` is refused with code 2, as this
plugin does not speak to firewalld), `iptablesAdminChainName` (default `CNI-ADMIN`),
`firewalldZone` (accepted, used by firewalld only), `ingressPolicy` (`open`, the default;
`same-bridge`: traffic from other bridges is dropped on the way to this one; `isolated`:
also between this bridge's own ports), always with iptables as the reference does. Ours
adds the `nftables` backend (its own tables `cni_firewall`, see
`rust/core/src/firewall/forward.rs`), GC and STATUS, and `dataDir` (default
`/run/cni/firewall`), where ADD records the addresses it let through, so that DEL and GC
remove exactly those. Without a backend, iptables is used unless only nftables works.

An nf_tables `accept` is final only in its own base chain: with the nftables backend, a drop
in another table (an iptables-nft FORWARD policy, firewalld) still drops. The iptables
backend puts its accepts in FORWARD itself, ahead of its policy, as the reference does.
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import CNIError, InvalidNetworkConfig, UnsupportedField
from cni.plugins import _netfilter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni._native import ForwardRules
    from cni.plugins._fields import Field
    from cni.plugins._records import Records

ABOUT = "firewall plugin (cni package)"
DEFAULT_ADMIN = "CNI-ADMIN"
DEFAULT_DATA_DIR = "/run/cni/firewall"
POLICIES = ("open", "same-bridge", "isolated")
_CHAIN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _chain_problem(value: str) -> str | None:
    if not value or len(value) > 28 or not set(value) <= _CHAIN_CHARS:
        return "must be an iptables chain name (1 to 28 letters, digits, '-', '_' or '.')"
    return None


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import choice, path_string, string

    return (
        # podman writes "" for the default (the reference reads it so).
        choice("backend", ("iptables", "nftables", "firewalld", ""), "iptables (default) or nftables"),
        string("iptablesAdminChainName", "the chain jumped to before the plugin's rules", check=_chain_problem),
        string("firewalldZone", "the firewalld zone (firewalld backend only)"),
        choice("ingressPolicy", (*POLICIES, ""), "who may reach pods on this bridge (default open)"),
        path_string("dataDir", f"where ADD records what it let through (default {DEFAULT_DATA_DIR})"),
    )


class Config:
    __slots__ = ("admin", "backend", "data_dir", "policy")

    def __init__(self, conf: dict[str, object]) -> None:
        backend = conf.get("backend")
        if backend == "firewalld":
            raise UnsupportedField(
                "firewall: the firewalld backend is not supported by this plugin; use iptables or nftables"
            )
        self.backend = backend if isinstance(backend, str) and backend else None
        admin = conf.get("iptablesAdminChainName")
        self.admin = admin if isinstance(admin, str) and admin else DEFAULT_ADMIN
        policy = conf.get("ingressPolicy")
        self.policy = policy if isinstance(policy, str) and policy else "open"
        data_dir = conf.get("dataDir")
        self.data_dir = data_dir if isinstance(data_dir, str) else DEFAULT_DATA_DIR


def _previous(args: skel.CmdArgs) -> dict[str, object] | None:
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        return None
    from cni.conversion import convert

    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _addresses(result: dict[str, object] | None) -> list[str]:
    ips = result.get("ips") if result else None
    return [
        str(ip["address"]).split("/")[0]
        for ip in (ips if isinstance(ips, list) else [])
        if isinstance(ip, dict) and isinstance(ip.get("address"), str)
    ]


def _rules(args: skel.CmdArgs, config: Config, container_id: str, ifname: str, addrs: list[str]) -> ForwardRules:
    from cni._native import ForwardRules

    return ForwardRules(str(args.conf["name"]), container_id, ifname, addrs, config.admin)


def _records(args: skel.CmdArgs, config: Config) -> Records:
    from cni.plugins._records import Records

    return Records(config.data_dir, str(args.conf["name"]))


def _bridge(result: dict[str, object]) -> str:
    interfaces = result.get("interfaces")
    first = interfaces[0] if isinstance(interfaces, list) and interfaces else None
    name = first.get("name") if isinstance(first, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidNetworkConfig(
            "firewall: an ingressPolicy needs the bridge as prevResult's first interface: "
            'chain "firewall" after "bridge"'
        )
    return name


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args.conf)
    prev = args.conf.get("prevResult")
    result = _previous(args)
    if not isinstance(prev, dict) or result is None:
        raise InvalidNetworkConfig("firewall: missing prevResult from an earlier plugin")
    addrs = _addresses(result)
    bridge = _bridge(result) if config.policy != "open" else ""
    records = _records(args, config)
    with _netfilter.Lock():
        backend = _netfilter.choose(config.backend, "filter")
        records.write(args.container_id, args.ifname, {"backend": backend, "addresses": addrs})
        try:
            for v6, group in _netfilter.by_family(addrs):
                rules = _rules(args, config, args.container_id, args.ifname, group)
                if backend == _netfilter.NFTABLES:
                    rules.nft_add()
                script = ""
                saved = _netfilter.save(v6, "filter") if backend == _netfilter.IPTABLES or bridge else ""
                if backend == _netfilter.IPTABLES:
                    script = rules.iptables_add(saved)
                if bridge:
                    from cni._native import isolation_iptables

                    # Other chains than the rules above: planned against the same reading,
                    # applied in the same restore.
                    script += isolation_iptables(saved, bridge, config.policy == "isolated")
                _netfilter.restore(v6, script)
        except BaseException:
            _remove(args, config, args.container_id, args.ifname, addrs, [backend])
            records.remove(args.container_id, args.ifname)
            raise
    return prev


def _remove(
    args: skel.CmdArgs, config: Config, container_id: str, ifname: str, addrs: list[str], backends: list[str]
) -> None:
    for v6, group in _netfilter.by_family(addrs):
        rules = _rules(args, config, container_id, ifname, group)
        if _netfilter.NFTABLES in backends:
            rules.nft_del()
        if _netfilter.IPTABLES in backends:
            try:
                saved = _netfilter.save(v6, "filter")
            except CNIError:
                continue
            _netfilter.restore(v6, rules.iptables_del(saved))


def _teardown(args: skel.CmdArgs, config: Config, container_id: str, ifname: str, known: list[str]) -> None:
    records = _records(args, config)
    record = records.read(container_id, ifname)
    recorded = record.get("addresses") if record else None
    addrs = [a for a in recorded if isinstance(a, str)] if isinstance(recorded, list) else known
    if addrs:
        backend = record.get("backend") if record else None
        backends = [backend] if isinstance(backend, str) else _netfilter.usable()
        _remove(args, config, container_id, ifname, addrs, backends)
    records.remove(container_id, ifname)


def cmd_del(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    with _netfilter.Lock():
        _teardown(args, config, args.container_id, args.ifname, _addresses(_previous(args)))


def cmd_check(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    result = _previous(args)
    record = _records(args, config).read(args.container_id, args.ifname)
    recorded = record.get("backend") if record else None
    backend = recorded if isinstance(recorded, str) else _netfilter.choose(config.backend)
    missing: list[str] = []
    for v6, group in _netfilter.by_family(_addresses(result)):
        rules = _rules(args, config, args.container_id, args.ifname, group)
        if backend == _netfilter.NFTABLES:
            missing += rules.nft_check()
        else:
            missing += rules.iptables_check(_netfilter.save(v6, "filter"))
    if missing:
        raise CNIError(f"firewall: rules missing: {'; '.join(missing)}")


def cmd_gc(args: skel.CmdArgs) -> None:
    from cni.plugins._records import valid_set

    config = Config(args.conf)
    valid = valid_set(args.valid_attachments())
    with _netfilter.Lock():
        for container_id, ifname in list(_records(args, config).stale(valid)):
            _teardown(args, config, container_id, ifname, [])


def cmd_status(args: skel.CmdArgs) -> None:
    _netfilter.status("firewall", Config(args.conf).backend)


PLUGIN = skel.Plugin(
    "firewall",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    status=cmd_status,
    about=ABOUT,
    fields=fields,
    supported_versions=versions.ALL[versions.ALL.index("0.4.0") :],
)
