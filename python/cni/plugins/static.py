# SPDX-License-Identifier: Apache-2.0
"""The static IPAM plugin: the addresses, routes and DNS the config names.

Keys of the reference: `ipam.addresses` (`address` in CIDR form, optional `gateway`),
`ipam.routes`, `ipam.dns`. CNI_ARGS `IP=` adds addresses (comma-separated CIDRs) and
`GATEWAY=` sets the gateway of the addresses whose network holds it; `args.cni.ips` and then
`runtimeConfig.ips` replace the configured addresses. CHECK verifies that prevResult
carries every address with its gateway. Nothing is allocated, so DEL has nothing to do.
"""

from __future__ import annotations

from cni import cniargs, skel, versions
from cni._native import cidr_has, parse_cidr_text, parse_ip_text
from cni.errors import CNIError, InvalidNetworkConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.plugins._fields import Field

    pass

ABOUT = "static IPAM plugin (cni package)"


def _cidr(text: object, where: str) -> tuple[str, int, int]:
    if not isinstance(text, str):
        raise InvalidNetworkConfig(f"{where}: {text!r} is not an address in CIDR notation")
    try:
        return parse_cidr_text(text.strip())
    except ValueError:
        raise InvalidNetworkConfig(f"{where}: {text!r} is not an address in CIDR notation") from None


def _gateway(text: object, where: str) -> str:
    if not isinstance(text, str):
        raise InvalidNetworkConfig(f"{where}: {text!r} is not an IP address")
    try:
        return parse_ip_text(text.strip())[0]
    except ValueError:
        raise InvalidNetworkConfig(f"{where}: invalid gateway address {text!r}") from None


def addresses(args: skel.CmdArgs) -> list[dict[str, object]]:
    """The addresses this attachment gets, in result form."""
    conf = args.conf
    ipam = conf.get("ipam")
    if not isinstance(ipam, dict):
        raise InvalidNetworkConfig("IPAM config missing 'ipam' key")
    entries: list[tuple[str, str | None]] = []
    configured = ipam.get("addresses") or []
    if not isinstance(configured, list):
        raise InvalidNetworkConfig("ipam.addresses must be a list")
    for n, item in enumerate(configured):
        if not isinstance(item, dict):
            raise InvalidNetworkConfig(f"ipam.addresses.{n} must be an object")
        gateway = item.get("gateway")
        entries.append(
            (
                str(item.get("address")) if "address" in item else "",
                _gateway(gateway, f"ipam.addresses.{n}.gateway") if gateway else None,
            )
        )
        _cidr(item.get("address"), f"ipam.addresses.{n}.address")
    env = cniargs.load(args.args, ["IP", "GATEWAY"])
    for item in filter(None, env.get("IP", "").split(",")):
        _cidr(item, "CNI_ARGS IP")
        entries.append((item.strip(), None))
    for item in filter(None, env.get("GATEWAY", "").split(",")):
        gw = _gateway(item, "CNI_ARGS GATEWAY")
        entries = [(a, gw if cidr_has(a, gw) else g) for a, g in entries]
    for key, source in (("args.cni.ips", _args_ips(conf)), ("runtimeConfig.ips", _runtime_ips(conf))):
        if source:
            for item in source:
                _cidr(item, key)
            entries = [(str(item).strip(), None) for item in source]
    result = []
    families = []
    for address, gateway in entries:
        ip, prefix, family = _cidr(address, "address")
        families.append(family)
        entry: dict[str, object] = {"address": f"{ip}/{prefix}"}
        if gateway:
            entry["gateway"] = gateway
        result.append(entry)
    version = args.cni_version
    if (families.count(4) > 1 or families.count(6) > 1) and not versions.at_least(version, "0.3.0"):
        raise InvalidNetworkConfig(f"CNI version {version} does not support more than 1 address per family")
    return result


def _args_ips(conf: dict[str, object]) -> list[object]:
    args = conf.get("args")
    cni = args.get("cni") if isinstance(args, dict) else None
    ips = cni.get("ips") if isinstance(cni, dict) else None
    return list(ips) if isinstance(ips, list) else []


def _runtime_ips(conf: dict[str, object]) -> list[object]:
    runtime = conf.get("runtimeConfig")
    ips = runtime.get("ips") if isinstance(runtime, dict) else None
    return list(ips) if isinstance(ips, list) else []


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    ips = addresses(args)
    ipam = args.conf["ipam"]
    assert isinstance(ipam, dict)
    result: dict[str, object] = {"cniVersion": versions.CURRENT, "ips": ips}
    routes = ipam.get("routes")
    if routes:
        if not isinstance(routes, list) or not all(
            isinstance(r, dict) and isinstance(r.get("dst"), str) for r in routes
        ):
            raise InvalidNetworkConfig("ipam.routes must be a list of objects with a dst")
        result["routes"] = routes
    dns = ipam.get("dns")
    if isinstance(dns, dict) and dns:
        result["dns"] = dns
    return result


def cmd_check(args: skel.CmdArgs) -> None:
    wanted = addresses(args)
    prev = args.conf.get("prevResult")
    have = prev.get("ips") if isinstance(prev, dict) else None
    present = {(str(i.get("address")), i.get("gateway")) for i in have or [] if isinstance(i, dict)}
    for entry in wanted:
        if (entry["address"], entry.get("gateway")) not in present:
            raise CNIError(f"static: address {entry['address']} is not in the result being checked")


def cmd_del(args: skel.CmdArgs) -> None:
    """Nothing was allocated; the config is still checked so a broken one is reported."""
    addresses(args)


def fields() -> tuple[Field, ...]:
    """The keys this plugin takes (imported only when a verb reads a config)."""
    from cni.plugins._fields import ROUTE, ROUTE_SCHEMA, address_problem, cidr_problem, items, obj, object_check

    address_check = object_check({"address": cidr_problem, "gateway": address_problem}, required=("address",))

    return (
        items("ipam.addresses", "the addresses to return", address_check, {"type": "object", "required": ["address"]}),
        items("ipam.routes", "routes to return", ROUTE, ROUTE_SCHEMA),
        obj("ipam.dns", "DNS settings to return", {}),
        items(
            "runtimeConfig.ips", "addresses from the runtime (replace ipam.addresses)", cidr_problem, {"type": "string"}
        ),
        items("args.cni.ips", "addresses from args (replace ipam.addresses)", cidr_problem, {"type": "string"}),
    )


PLUGIN = skel.Plugin("static", add=cmd_add, delete=cmd_del, check=cmd_check, about=ABOUT, fields=fields)
