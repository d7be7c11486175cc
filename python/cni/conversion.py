# SPDX-License-Identifier: Apache-2.0
"""Results as plain dicts, converted between every wire version.

Three wire families exist: 0.1.0/0.2.0 (`ip4`/`ip6`), 0.3.0-0.4.0 (`interfaces`, `ips`
with `version`, `routes`) and 1.0.0/1.1.0 (no `ips[].version`; 1.1.0 adds interface
`mtu`/`socketPath`/`pciID` and route `mtu`/`advmss`/`priority`/`table`/`scope`).
Conversion goes through the 1.x shape and follows the Go library's rules
(`pkg/types/{020,040,100}`): going down to 0.2.0 keeps the first IPv4 and first IPv6
address and only `dst`/`gw` of their routes; going down to 0.4.0 drops the interface
fields 0.4.0 lacks but, like Go's shared Route type, keeps the extra route fields.

As libcni, which decodes every result into Go types: keys a result's objects do not
define are dropped (a plugin's extra field reaches no later plugin), and an IPv4-mapped
IPv6 address is written as the IPv4 address it is (`::ffff:10.0.0.2/120` as
`10.0.0.2/24`). Two cases differ from libcni v1.3 on purpose, each named by a test
(`tests/test_libcni_conversion.py`): a mapped CIDR whose prefix is shorter than 96 keeps its
text (libcni prints `::ffff:10.0.0.2/24` as `10.0.0.2/0`, another network), and an
address's family comes from the address, not from a 0.3.x/0.4.0 `version` that contradicts
it (libcni files an IPv6 address under `ip4`).

The pydantic models in :mod:`cni.models.result` validate results; this module only
reshapes them, so plugins can use it without importing pydantic.
"""

from __future__ import annotations

from cni.errors import IncompatibleCNIVersion
from cni.versions import ALL, DEFAULT

_LEGACY = ("0.1.0", "0.2.0")
_V04 = ("0.3.0", "0.3.1", "0.4.0")
_INTERFACE_04_KEYS = ("name", "mac", "sandbox")
_INTERFACE_KEYS = ("name", "mac", "mtu", "sandbox", "socketPath", "pciID")
_IP_KEYS = ("address", "gateway", "interface")
_ROUTE_KEYS = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")
_DNS_KEYS = ("nameservers", "domain", "search", "options")
# What each family's lists hold: 0.3.x/0.4.0 interfaces lack mtu, socketPath and pciID; the
# route fields of 1.1.0 are kept, as Go's shared Route type keeps them.
_V1_SHAPE = (("interfaces", _INTERFACE_KEYS), ("ips", _IP_KEYS), ("routes", _ROUTE_KEYS))
_V04_SHAPE = (("interfaces", _INTERFACE_04_KEYS), ("ips", _IP_KEYS), ("routes", _ROUTE_KEYS))

Result = dict[str, object]


def _family(version: str) -> tuple[str, ...]:
    for family in (_LEGACY, _V04):
        if version in family:
            return family
    if version in ALL:
        return ("1.0.0", "1.1.0")
    raise IncompatibleCNIVersion(f"unsupported result version {version!r}", f"supported versions are {', '.join(ALL)}")


def ip_version(address: object) -> str:
    """ "4" or "6" for an address or CIDR (an IPv4-mapped IPv6 address counts as 4, as in Go)."""
    return "4" if "." in str(address) else "6"


def _go_address(text: object) -> object:
    """An address as Go prints it: an IPv4-mapped IPv6 address in its IPv4 form."""
    if not isinstance(text, str) or "ffff" not in text.lower():
        return text
    from cni._native import parse_ip_text

    try:
        canonical, family = parse_ip_text(text)
    except ValueError:
        return text
    return canonical if family == 4 else text


def _go_cidr(text: object) -> object:
    """A CIDR as Go prints it: a mapped one as the IPv4 network it is (prefix less 96)."""
    if not isinstance(text, str) or "ffff" not in text.lower():
        return text
    from cni._native import parse_cidr_text

    try:
        address, prefix, family = parse_cidr_text(text)
    except ValueError:
        return text
    mapped = _go_address(address)
    if family == 6 and prefix >= 96 and mapped != address:
        return f"{mapped}/{prefix - 96}"
    return text  # shorter: it covers more than the mapped range, and no IPv4 CIDR says that


# The fields libcni parses as addresses, and how it prints them back.
_ADDRESS_FIELDS = {"address": _go_cidr, "dst": _go_cidr, "ip": _go_cidr, "gateway": _go_address, "gw": _go_address}


def _known(item: dict[str, object], keys: tuple[str, ...]) -> dict[str, object]:
    """`item` with only the `keys` it has, its addresses as Go prints them."""
    out = {}
    for key in keys:
        if key in item:
            value = item[key]
            normalise = _ADDRESS_FIELDS.get(key)
            out[key] = normalise(value) if normalise is not None else value
    return out


def _dicts(value: object, keys: tuple[str, ...]) -> list[dict[str, object]]:
    """The objects of a list, each with only the `keys` it has."""
    if not isinstance(value, list):
        return []
    return [_known(item, keys) for item in value if isinstance(item, dict)]


def _lists(result: Result, shape: tuple[tuple[str, tuple[str, ...]], ...]) -> Result:
    """The non-empty lists of `result` that `shape` names, each object with its keys only."""
    out: Result = {}
    for key, keys in shape:
        items = _dicts(result.get(key), keys)
        if items:
            out[key] = items
    return out


def _with_dns(out: Result, source: Result) -> Result:
    dns = source.get("dns")
    if isinstance(dns, dict):
        known = {k: dns[k] for k in _DNS_KEYS if k in dns}
        if known:
            out["dns"] = known
    return out


def _legacy_to_v1(result: Result) -> Result:
    ips: list[dict[str, object]] = []
    routes: list[dict[str, object]] = []
    for key in ("ip4", "ip6"):
        block = result.get(key)
        if not isinstance(block, dict):
            continue
        ip: dict[str, object] = {"address": _go_cidr(block.get("ip"))}
        if block.get("gateway"):
            ip["gateway"] = _go_address(block["gateway"])
        ips.append(ip)
        routes.extend(_dicts(block.get("routes"), ("dst", "gw")))
    out: Result = {}
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    return _with_dns(out, result)


def _v04_to_v1(result: Result) -> Result:
    return _with_dns(_lists(result, _V04_SHAPE), result)  # _IP_KEYS has no `version`


def _v1_copy(result: Result) -> Result:
    return _with_dns(_lists(result, _V1_SHAPE), result)


def _v1_to_v04(result: Result, version: str) -> Result:
    out: Result = {"cniVersion": version, **_lists(result, _V04_SHAPE)}
    ips = out.get("ips")
    if isinstance(ips, list):
        out["ips"] = [{"version": ip_version(ip.get("address")), **ip} for ip in ips]
    return _with_dns(out, result)


def _v1_to_legacy(result: Result, version: str) -> Result:
    blocks: dict[str, dict[str, object]] = {}
    for ip in _dicts(result.get("ips"), _IP_KEYS):
        key = "ip" + ip_version(ip.get("address"))
        if key not in blocks:
            block: dict[str, object] = {"ip": ip.get("address")}
            if ip.get("gateway"):
                block["gateway"] = ip["gateway"]
            blocks[key] = block
    if not blocks:
        raise IncompatibleCNIVersion(
            f"cannot convert result to version {version}: no valid IP addresses",
            "results before 0.3.0 need at least one IP address",
        )
    for route in _dicts(result.get("routes"), _ROUTE_KEYS):
        owner = blocks.get("ip" + ip_version(route.get("dst")))
        if owner is not None:
            kept = {k: route[k] for k in ("dst", "gw") if k in route}
            routes = owner.setdefault("routes", [])
            assert isinstance(routes, list)
            routes.append(kept)
    out: Result = {"cniVersion": version}
    for key in ("ip4", "ip6"):
        if key in blocks:
            out[key] = blocks[key]
    return _with_dns(out, result)


def convert(result: Result, to_version: str, *, from_version: str | None = None) -> Result:
    """Returns `result` reshaped for `to_version`, as a new dict.

    The source version is the result's `cniVersion`; `from_version` stands in when the
    result has none (the runtime stamps the config's version, as libcni does), and
    otherwise a result without a version is 0.1.0.
    """
    source = result.get("cniVersion") or from_version or DEFAULT
    if not isinstance(source, str):
        raise IncompatibleCNIVersion(f"invalid result cniVersion {source!r}")
    source_family = _family(source)
    target_family = _family(to_version)
    if source_family == target_family:
        if source_family == _LEGACY:
            # 0.1.0 and 0.2.0 share a shape; copy only the keys it has.
            same: Result = {"cniVersion": to_version}
            for key in ("ip4", "ip6"):
                block = result.get(key)
                if isinstance(block, dict):
                    kept = _known(block, ("ip", "gateway"))
                    routes = _dicts(block.get("routes"), ("dst", "gw"))
                    if routes:
                        kept["routes"] = routes
                    same[key] = kept
            return _with_dns(same, result)
        if source_family == _V04:
            return _v1_to_v04(_v04_to_v1(result), to_version)
        return {"cniVersion": to_version, **_v1_copy(result)}
    if source_family == _LEGACY:
        v1 = _legacy_to_v1(result)
    elif source_family == _V04:
        v1 = _v04_to_v1(result)
    else:
        v1 = _v1_copy(result)
    if target_family == _LEGACY:
        return _v1_to_legacy(v1, to_version)
    if target_family == _V04:
        return _v1_to_v04(v1, to_version)
    return {"cniVersion": to_version, **v1}
