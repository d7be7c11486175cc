# SPDX-License-Identifier: Apache-2.0
"""`cni`: drive CNI networks from a shell, with cnitool's semantics and readable output.

    cni add|check|del NETWORK NETNS     attach, verify or detach a network namespace
    cni gc|status NETWORK               collect stale attachments; ask if plugins are ready
    cni list | validate [NETWORK...]    show networks; check plugins exist and speak the version
    cni schema TYPE | version           JSON Schema of a config; our versions
    cni install DIR                     write one executable per plugin into DIR
    cni agent                           serve plugins warm (the shims `cni install` writes)
    cni demo [--keep]                   three pods on a bridge, in throwaway namespaces

Like cnitool it reads NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS
(JSON) and CNI_IFNAME (default eth0); each has a flag that takes precedence.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from cni import __version__, versions
from cni.agent import DEFAULT_SOCKET as DEFAULT_AGENT_SOCKET
from cni.errors import CNIError

DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CNI_PATH = "/opt/cni/bin"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cni", description="Run CNI networks and plugins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--conf-dir",
            default=os.environ.get("NETCONFPATH", DEFAULT_CONF_DIR),
            help="directory of network configs (env NETCONFPATH)",
        )
        p.add_argument(
            "--cni-path",
            default=os.environ.get("CNI_PATH", DEFAULT_CNI_PATH),
            help="colon-separated plugin directories (env CNI_PATH)",
        )
        p.add_argument("--cache-dir", default="/var/lib/cni", help="result cache directory")
        p.add_argument("--timeout", type=float, default=120.0, help="seconds each plugin may run")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    for verb, text in (
        ("add", "attach NETNS to NETWORK"),
        ("check", "check an attachment"),
        ("del", "detach NETNS from NETWORK"),
    ):
        p = sub.add_parser(verb, help=text)
        common(p)
        p.add_argument("network")
        p.add_argument("netns")
        p.add_argument("--ifname", default=os.environ.get("CNI_IFNAME", "eth0"), help="env CNI_IFNAME")
        p.add_argument("--args", default=os.environ.get("CNI_ARGS", ""), help="K=V;K=V (env CNI_ARGS)")
        p.add_argument("--cap-args", default=os.environ.get("CAP_ARGS", ""), help="JSON object (env CAP_ARGS)")
        p.add_argument("--container-id", help="default: derived from NETNS, as cnitool does")
    p = sub.add_parser("gc", help="remove resources of attachments not listed as valid")
    common(p)
    p.add_argument("network")
    p.add_argument(
        "--valid",
        action="append",
        default=[],
        metavar="CONTAINERID/IFNAME",
        help="an attachment to keep (repeatable); none given means none are kept",
    )
    p = sub.add_parser("status", help="ask every plugin of NETWORK whether it can serve ADD")
    common(p)
    p.add_argument("network")
    p = sub.add_parser("list", help="list networks and their plugins")
    common(p)
    p = sub.add_parser("validate", help="check plugins exist and support the config version")
    common(p)
    p.add_argument("networks", nargs="*", help="default: every network")
    p = sub.add_parser("schema", help="print the JSON Schema of a config")
    p.add_argument("type", help="conflist, netconf, result, or a plugin type")
    p = sub.add_parser("version", help="print versions")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("demo", help="attach three pods in throwaway namespaces, show them, detach")
    p.add_argument("--keep", action="store_true", help="leave the pods for exploring; print how to clean up")
    p = sub.add_parser("install", help="write one executable per plugin into DIR")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.add_argument("--launchers", action="store_true", help="write the Python launchers themselves, without the shim")
    p.add_argument("--agent-socket", default=DEFAULT_AGENT_SOCKET, help="the socket the shims connect to")
    p.add_argument("--systemd", metavar="UNITDIR", help="also write the agent's socket and service units here")
    p = sub.add_parser(
        "agent",
        help="serve plugins warm: the shims hand each operation to a pre-forked worker",
        description=(
            "Serve CNI plugin operations for the shims `cni install` writes: the plugin path is "
            "imported once, and each operation runs in a fresh pre-forked worker, in the caller's "
            "namespaces, with its environment and stdio. Runs in the foreground until SIGTERM, "
            "SIGINT or SIGHUP (requests in flight finish). Under systemd socket activation the "
            "socket systemd passes is served (see `cni install --systemd`)."
        ),
    )
    p.add_argument("--socket", default=DEFAULT_AGENT_SOCKET, help=f"unix socket path (default {DEFAULT_AGENT_SOCKET})")
    p.add_argument("--workers", type=int, default=4, help="idle workers kept ready (default 4)")
    p.add_argument("--verbose", action="store_true", help="log every request served (plugin, command, caller)")
    p = sub.add_parser("ipam", help="cluster-ipam's blocks in etcd: show them, reclaim a dead node's")
    ipam = p.add_subparsers(dest="ipam_command", required=True)
    for name, text in (
        ("show", "print the network's blocks, owners and use"),
        ("reclaim", "free the blocks of NODE, a node that is gone"),
    ):
        q = ipam.add_parser(name, help=text)
        q.add_argument("network")
        if name == "reclaim":
            q.add_argument("node")
            q.add_argument(
                "--grace", type=float, default=3600.0, help="seconds since the node was last seen (default 3600)"
            )
        q.add_argument("--etcd", required=True, help="endpoints, comma-separated (http://host:port)")
        q.add_argument("--prefix", default="/cni-ipam", help="the etcd key prefix (default /cni-ipam)")
        q.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("dhcp", help="the dhcp IPAM plugin's daemon")
    dhcp = p.add_subparsers(dest="dhcp_command", required=True)
    p = dhcp.add_parser(
        "daemon",
        help="acquire, renew and release DHCP leases for the dhcp plugin",
        description=(
            "Acquire DHCP leases inside pods' network namespaces for the dhcp IPAM plugin, renew "
            "them at T1, rebind at T2 and release them on DEL. Leases are kept on disk, so a restarted "
            "daemon goes on maintaining them. Runs in the foreground until SIGTERM or SIGINT; under "
            "systemd socket activation the socket systemd passes is served."
        ),
    )
    p.add_argument("--socket", default="/run/cni/dhcp.sock", help="unix socket path (default /run/cni/dhcp.sock)")
    p.add_argument("--state-dir", default="/var/lib/cni/dhcp", help="where leases are kept (default /var/lib/cni/dhcp)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds one exchange waits for the server (default 10)")
    p.add_argument("--pidfile", help="write the daemon's pid here")
    return parser


def container_id_for(netns: str) -> str:
    """cnitool's container ID for a netns path: stable, so DEL finds what ADD made."""
    return "cnitool-" + hashlib.sha512(os.path.abspath(netns).encode()).hexdigest()[:20]


def _print_json(obj: object) -> None:
    from cni._native import dumps

    print(dumps(obj, 2))


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_result(result: dict[str, Any]) -> str:
    """A result as readable tables (interfaces, addresses, routes, DNS)."""
    from cni.models.result import parse_result

    model = parse_result(result)
    parts = [f"cniVersion {model.cni_version}"]
    if model.interfaces:
        parts.append(
            _table(
                ["#", "interface", "mac", "mtu", "sandbox"],
                [[n, i.name, i.mac, i.mtu, i.sandbox] for n, i in enumerate(model.interfaces)],
            )
        )
    if model.ips:
        parts.append(
            _table(["address", "gateway", "interface"], [[ip.address, ip.gateway, ip.interface] for ip in model.ips])
        )
    if model.routes:
        parts.append(
            _table(
                ["destination", "via", "metric", "table", "scope", "mtu"],
                [[r.dst, r.gw, r.priority, r.table, r.scope, r.mtu] for r in model.routes],
            )
        )
    if model.dns and model.dns.nameservers:
        parts.append(
            "dns "
            + ", ".join(model.dns.nameservers)
            + (f" search {' '.join(model.dns.search)}" if model.dns.search else "")
        )
    return "\n\n".join(parts)


def _runtime(ns: argparse.Namespace) -> Any:
    from cni.runtime import CNIConfig

    return CNIConfig(ns.cni_path.split(":"), cache_dir=ns.cache_dir, timeout=ns.timeout)


def _network(ns: argparse.Namespace) -> Any:
    from cni.runtime import load_dir

    return load_dir(ns.conf_dir).get(ns.network)


def _rt(ns: argparse.Namespace) -> Any:
    from cni import cniargs
    from cni._native import loads
    from cni.errors import InvalidNetworkConfig
    from cni.runtime import RuntimeConf

    caps = loads(ns.cap_args) if ns.cap_args else {}
    if not isinstance(caps, dict):
        raise InvalidNetworkConfig("CAP_ARGS must be a JSON object")
    return RuntimeConf(
        container_id=ns.container_id or container_id_for(ns.netns),
        netns=os.path.abspath(ns.netns),
        ifname=ns.ifname,
        args=cniargs.parse(ns.args),
        capability_args=caps,
    )


def _cmd_attach(ns: argparse.Namespace) -> int:
    cni, network, rt = _runtime(ns), _network(ns), _rt(ns)
    if ns.command == "add":
        result = cni.add_network_list(network, rt)
        _print_json(result) if ns.json else print(render_result(result))
    elif ns.command == "check":
        cni.check_network_list(network, rt)
        _print_json({"network": network.name, "ok": True}) if ns.json else print(f"{network.name}: ok")
    else:
        cni.del_network_list(network, rt)
        if ns.json:
            _print_json({"network": network.name, "deleted": True})
    return 0


def _cmd_gc(ns: argparse.Namespace) -> int:
    valid = []
    for item in ns.valid:
        cid, _, ifname = item.partition("/")
        valid.append((cid, ifname or "eth0"))
    network = _network(ns)
    removed = _runtime(ns).gc_network_list(network, valid)
    if ns.json:
        _print_json({"network": network.name, "removed": [{"containerID": c, "ifname": i} for c, i in removed]})
    else:
        print(f"{network.name}: removed {len(removed)} stale attachments" + "".join(f"\n  {c} {i}" for c, i in removed))
    return 0


def _cmd_status(ns: argparse.Namespace) -> int:
    network = _network(ns)
    _runtime(ns).get_status_network_list(network)
    _print_json({"network": network.name, "ready": True}) if ns.json else print(f"{network.name}: ready")
    return 0


def _cmd_list(ns: argparse.Namespace) -> int:
    from cni.runtime import load_dir

    loaded = load_dir(ns.conf_dir)
    if ns.json:
        _print_json(
            {
                "networks": [
                    {
                        "name": n.name,
                        "cniVersion": n.cni_version,
                        "file": n.source,
                        "plugins": [p.get("type") for p in n.plugins],
                    }
                    for n in loaded.networks
                ],
                "errors": [{"file": path, **err.to_dict()} for path, err in loaded.errors],
            }
        )
    else:
        rows = [
            [n.name, n.cni_version, " -> ".join(str(p.get("type")) for p in n.plugins), n.source]
            for n in loaded.networks
        ]
        print(_table(["network", "version", "plugins", "file"], rows) if rows else f"no networks in {ns.conf_dir}")
        for path, err in loaded.errors:
            print(f"error: {path}: {err}", file=sys.stderr)
    return 1 if loaded.errors else 0


def _cmd_validate(ns: argparse.Namespace) -> int:
    from cni.runtime import load_dir

    loaded = load_dir(ns.conf_dir)
    cni = _runtime(ns)
    names = ns.networks or [n.name for n in loaded.networks]
    failed = bool(loaded.errors) and not ns.networks
    report = []
    for name in names:
        try:
            caps = cni.validate_network_list(loaded.get(name))
            report.append({"network": name, "ok": True, "capabilities": caps})
        except CNIError as err:
            failed = True
            report.append({"network": name, "ok": False, "error": str(err)})
    if ns.json:
        _print_json(report)
    else:
        for entry in report:
            if entry["ok"]:
                caps = ", ".join(entry["capabilities"]) or "none"
                print(f"{entry['network']}: ok (capabilities: {caps})")
            else:
                print(f"{entry['network']}: {entry['error']}")
        if not ns.networks:
            for path, problem in loaded.errors:
                print(f"{path}: {problem}")
    return 1 if failed else 0


def _cmd_schema(ns: argparse.Namespace) -> int:
    from cni.errors import InvalidNetworkConfig
    from cni.models import NetConf, NetConfList, Result
    from cni.plugins import registry
    from cni.plugins._fields import schema

    models: dict[str, Any] = {"conflist": NetConfList, "netconf": NetConf, "result": Result}
    model = models.get(ns.type)
    if model is not None:
        _print_json(model.model_json_schema(by_alias=True))
        return 0
    entry = registry.find(ns.type)
    if entry is None:
        known = [*sorted(models), *(e.type for e in registry.PLUGINS)]
        raise InvalidNetworkConfig(f"no schema for {ns.type!r}", f"known: {', '.join(known)}")
    # The keys the plugin declares, beside the ones every plugin config has.
    declared = entry.plugin().fields
    plugin_schema = schema(declared() if declared is not None else (), f"{entry.type} plugin config")
    common = NetConf.model_json_schema(by_alias=True)
    properties = plugin_schema["properties"]
    assert isinstance(properties, dict)
    for key, value in common.get("properties", {}).items():
        properties.setdefault(key, value)
    plugin_schema["required"] = common.get("required", [])
    if "$defs" in common:
        plugin_schema["$defs"] = common["$defs"]
    _print_json(plugin_schema)
    return 0


def _cmd_version(ns: argparse.Namespace) -> int:
    info = {"version": __version__, "cniVersion": versions.CURRENT, "supportedVersions": list(versions.ALL)}
    if ns.json:
        _print_json(info)
    else:
        print(f"cni {__version__}, CNI spec {versions.CURRENT} (results {', '.join(versions.ALL)})")
    return 0


def _cmd_demo(ns: argparse.Namespace) -> int:
    from cni.demo import run

    return run(keep=ns.keep)


def _cmd_install(ns: argparse.Namespace) -> int:
    from cni.install import install, write_units

    try:
        written = install(ns.dir, launchers_only=ns.launchers, agent_socket=ns.agent_socket)
    except FileNotFoundError as err:
        print(f"cni install: {err}", file=sys.stderr)
        return 1
    units = write_units(ns.systemd, ns.agent_socket) if ns.systemd else []
    if ns.json:
        _print_json({"dir": ns.dir, "plugins": sorted(written), "shim": not ns.launchers, "units": units})
    else:
        how = "launchers" if ns.launchers else f"shims for the agent at {ns.agent_socket}"
        print(f"installed {len(written)} plugins into {ns.dir} ({how}): {' '.join(sorted(written)) or '(none)'}")
        if units:
            print(f"wrote {', '.join(units)} into {ns.systemd}")
    return 0


def _cmd_agent(ns: argparse.Namespace) -> int:
    from cni.agent import serve

    if ns.workers < 1:
        print("cni agent: --workers must be at least 1", file=sys.stderr)
        return 2
    return serve(ns.socket, ns.workers, ns.verbose)


def _cmd_ipam(ns: argparse.Namespace) -> int:
    from cni.ipam.etcd import Etcd
    from cni.plugins.cluster_ipam import reclaim, show

    client = Etcd(ns.etcd.split(","))
    if ns.ipam_command == "reclaim":
        freed = reclaim(client, ns.prefix, ns.network, ns.node, ns.grace)
        if ns.json:
            _print_json({"reclaimed": freed})
        else:
            print(f"reclaimed {len(freed)} blocks of {ns.node}: {' '.join(freed)}")
        return 0
    state = show(client, ns.prefix, ns.network)
    if ns.json:
        _print_json(state)
        return 0
    blocks = state["blocks"]
    assert isinstance(blocks, dict)
    print(f"{'block':<24} {'node':<20} used")
    for block, info in sorted(blocks.items()):
        print(f"{block:<24} {info.get('node')!s:<20} {info.get('used')}")
    print(f"nodes alive: {', '.join(state['alive']) or '-'}")  # type: ignore[arg-type]
    return 0


def _cmd_dhcp(ns: argparse.Namespace) -> int:
    from cni.dhcp.daemon import serve

    if ns.pidfile:
        with open(ns.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    return serve(ns.socket, ns.state_dir, ns.timeout)


_COMMANDS = {
    "add": _cmd_attach,
    "check": _cmd_attach,
    "del": _cmd_attach,
    "gc": _cmd_gc,
    "status": _cmd_status,
    "list": _cmd_list,
    "validate": _cmd_validate,
    "schema": _cmd_schema,
    "version": _cmd_version,
    "install": _cmd_install,
    "agent": _cmd_agent,
    "dhcp": _cmd_dhcp,
    "ipam": _cmd_ipam,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cni` command; returns the exit status."""
    ns = _parser().parse_args(argv)
    try:
        return _COMMANDS[ns.command](ns)
    except CNIError as err:
        if getattr(ns, "json", False):
            _print_json(err.to_dict())
        else:
            print(f"cni {ns.command}: error {err.code}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
