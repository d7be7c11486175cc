# SPDX-License-Identifier: Apache-2.0
"""The bandwidth plugin: rate limits on a pod's traffic, on the node side of its veth
(chained after an interface plugin that made one, as bridge and ptp do).

Keys of the reference: `ingressRate`, `ingressBurst`, `egressRate`, `egressBurst` (bits
per second and bits; a rate and its burst are set together, or neither), at the top
level, or, when none of them is there, from `runtimeConfig.bandwidth` (the `bandwidth`
capability). Ingress (traffic to the pod) is a token bucket filter (TBF) as the root qdisc
of the node-side veth; egress (traffic from the pod) arrives on that veth, where an
ingress qdisc's filter redirects it to an IFB device `bwp<hash>` (the reference's name)
whose root is the egress TBF. Each TBF queues 25 ms beyond its burst, as the reference's.

The qdiscs, the filter and its mirred action are built in Rust and sent over netlink
(`rust/core/src/netlink/tc.rs`). Ours adds `dataDir` (default `/run/cni/bandwidth`), where
ADD records what it installed, so that DEL removes the veth's qdiscs as well as the IFB
(the reference deletes the IFB only, and leaves the veth to its interface plugin) and GC
removes what attachments the runtime no longer lists left behind.
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni._native import Netlink
    from cni.plugins._fields import Field
    from cni.plugins._records import Records

ABOUT = "bandwidth plugin (cni package)"
DEFAULT_DATA_DIR = "/run/cni/bandwidth"
KEYS = ("ingressRate", "ingressBurst", "egressRate", "egressBurst")
UINT64 = (1 << 64) - 1
_ENODEV = 19
INGRESS_PARENT = 0xFFFFFFF1


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import integer, path_string

    keys = [integer(key, 0, UINT64, "bits per second" if "Rate" in key else "bits") for key in KEYS]
    keys += [integer(f"runtimeConfig.bandwidth.{key}", 0, UINT64, f"{key} from the runtime") for key in KEYS]
    for key in keys:
        key.ignored_by_del = True  # DEL removes what the record says, whatever is asked now
    keys.append(path_string("dataDir", f"where ADD records what it installed (default {DEFAULT_DATA_DIR})"))
    return tuple(keys)


class Limits:
    """The rates and bursts asked for, checked as the reference checks them and then for
    what the kernel can take."""

    __slots__ = ("egress", "ingress")

    def __init__(self, conf: dict[str, object]) -> None:
        source: object = conf
        if all(conf.get(key) is None for key in KEYS):
            runtime = conf.get("runtimeConfig")
            source = runtime.get("bandwidth") if isinstance(runtime, dict) else None
        values = {key: source.get(key) for key in KEYS} if isinstance(source, dict) else {}

        def pair(direction: str) -> tuple[int, int] | None:
            rate, burst = values.get(f"{direction}Rate"), values.get(f"{direction}Burst")
            rate = rate if isinstance(rate, int) else 0
            burst = burst if isinstance(burst, int) else 0
            if rate and not burst:
                raise InvalidNetworkConfig(f"bandwidth: {direction}Rate is set: {direction}Burst must be set too")
            if burst and not rate:
                raise InvalidNetworkConfig(f"bandwidth: {direction}Burst is set: {direction}Rate must be set too")
            if burst // 8 >= 0xFFFFFFFF:
                raise InvalidNetworkConfig(f"bandwidth: {direction}Burst cannot be more than 4 GiB")
            return (rate, burst) if rate else None

        self.ingress = pair("ingress")
        self.egress = pair("egress")

    def check_shapeable(self) -> None:
        from cni._native import tbf_shaping
        from cni.errors import InvalidValue

        for direction, limits in (("ingress", self.ingress), ("egress", self.egress)):
            if limits is not None:
                try:
                    tbf_shaping(*limits)
                except InvalidValue as err:
                    raise InvalidNetworkConfig(f"bandwidth: {direction}: {err}") from None


def _records(args: skel.CmdArgs) -> Records:
    from cni.plugins._records import Records

    return Records.of(args.conf, DEFAULT_DATA_DIR)


def _previous(args: skel.CmdArgs) -> dict[str, object]:
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        raise InvalidNetworkConfig("bandwidth: missing prevResult: chain it after an interface plugin")
    from cni.conversion import convert

    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _host_side(args: skel.CmdArgs, result: dict[str, object], node: Netlink) -> str:
    """The node-side veth of the pod's interface, which the result must list (without a
    sandbox), as the reference finds it: by the peer index of the pod's end."""
    from cni._native import Netlink

    try:
        pod_link = Netlink(args.netns).link(args.ifname)
    except NetlinkError as err:
        raise CNIError(f"bandwidth: cannot read {args.ifname} in {args.netns}: {err}") from None
    peer = node.link_by_index(pod_link.link) if pod_link is not None and pod_link.link else None
    if pod_link is None or pod_link.kind != "veth" or peer is None:
        raise InvalidNetworkConfig(f"bandwidth: {args.ifname} in {args.netns} is not a veth with its peer in this node")
    interfaces = result.get("interfaces")
    listed = any(
        isinstance(i, dict) and i.get("name") == peer.name and not i.get("sandbox")
        for i in (interfaces if isinstance(interfaces, list) else [])
    )
    if not listed:
        raise InvalidNetworkConfig(f"bandwidth: the veth peer {peer.name} of {args.ifname} is not in prevResult")
    return peer.name


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    limits = Limits(args.conf)
    result = _previous(args)
    if limits.ingress is None and limits.egress is None:
        return result
    limits.check_shapeable()
    from cni._native import Netlink, bandwidth_ifb_name

    node = Netlink()
    host = _host_side(args, result, node)
    host_link = node.link(host)
    assert host_link is not None  # _host_side just found it
    ifb = bandwidth_ifb_name(str(args.conf["name"]), args.container_id) if limits.egress else None
    _refuse_taken(node, host, ifb)
    records = _records(args)
    # What ADD is about to install: after a crash, the DEL removes just that.
    intent = {"host": host, "hostIndex": host_link.index, "ingress": limits.ingress is not None, "ifb": ifb}
    records.write(args.container_id, args.ifname, intent)
    done: dict[str, object] = {"host": host, "hostIndex": host_link.index}
    try:
        if limits.ingress is not None:
            node.add_tbf(host, *limits.ingress)
            done["ingress"] = True
        if ifb is not None and limits.egress is not None:
            node.add_link("ifb", ifb, mtu=host_link.mtu)
            done["ifb"] = ifb
            node.set_link(ifb, up=True, txqlen=0)
            node.add_ingress_redirect(host, ifb)
            node.add_tbf(ifb, *limits.egress)
            made = node.link(ifb)
            interfaces = result.setdefault("interfaces", [])
            assert isinstance(interfaces, list)
            interfaces.append({"name": ifb, "mac": made.mac if made is not None else ""})
    except BaseException:
        _teardown(node, done)
        records.remove(args.container_id, args.ifname)
        raise
    return result


def _refuse_taken(node: Netlink, host: str, ifb: str | None) -> None:
    """Refuses, before anything changes, to shape a veth that has qdiscs of someone else's
    or an IFB name that is taken: ADD must not take over, nor its undo remove, either."""
    for kind, handle, parent in node.qdiscs(host):
        if handle != 0 or parent == INGRESS_PARENT:
            raise CNIError(f"bandwidth: {host} has a {kind} qdisc already (handle {handle >> 16:x}:)")
    if ifb is not None and node.link(ifb) is not None:
        raise CNIError(f"bandwidth: the egress device {ifb} exists already")


def _teardown(node: Netlink, record: dict[str, object]) -> None:
    """Removes what the record says ADD installed; what is gone already is no error."""
    ifb = record.get("ifb")
    if isinstance(ifb, str) and node.link(ifb) is not None:
        try:
            node.del_link(ifb)
        except NetlinkError as err:
            if err.errno != _ENODEV:
                raise
    host = record.get("host")
    link = node.link(host) if isinstance(host, str) else None
    # The same veth, not a later one that took its name.
    if link is None or link.index != record.get("hostIndex") or not isinstance(host, str):
        return
    if record.get("ingress") and node.tbf(host) is not None:
        node.del_qdisc(host)
    if isinstance(ifb, str):
        node.del_qdisc(host, ingress=True)


def cmd_del(args: skel.CmdArgs) -> None:
    from cni._native import Netlink, bandwidth_ifb_name

    records = _records(args)
    record = records.read(args.container_id, args.ifname)
    if record is None:
        # An ADD of the reference's, or none: its IFB has the reference's name.
        record = {"ifb": bandwidth_ifb_name(str(args.conf["name"]), args.container_id)}
    _teardown(Netlink(), record)
    records.remove(args.container_id, args.ifname)


def cmd_check(args: skel.CmdArgs) -> None:
    from cni._native import Netlink, bandwidth_ifb_name, tbf_shaping

    limits = Limits(args.conf)
    result = _previous(args)
    node = Netlink()
    host = _host_side(args, result, node)
    if limits.ingress is not None:
        found = node.tbf(host)
        if found != tbf_shaping(*limits.ingress):
            raise CNIError(f"bandwidth: the ingress TBF of {host} is {found}, expected {tbf_shaping(*limits.ingress)}")
    if limits.egress is not None:
        ifb = bandwidth_ifb_name(str(args.conf["name"]), args.container_id)
        link = node.link(ifb)
        if link is None:
            raise CNIError(f"bandwidth: the egress device {ifb} is missing")
        found = node.tbf(ifb)
        if found != tbf_shaping(*limits.egress):
            raise CNIError(f"bandwidth: the egress TBF of {ifb} is {found}, expected {tbf_shaping(*limits.egress)}")
        if link.index not in node.redirect_targets(host):
            raise CNIError(f"bandwidth: traffic arriving on {host} is not redirected to {ifb}")


def cmd_gc(args: skel.CmdArgs) -> None:
    from cni._native import Netlink
    from cni.plugins._records import valid_set

    records = _records(args)
    valid = valid_set(args.valid_attachments())
    node = Netlink()
    for container_id, ifname in list(records.stale(valid)):
        record = records.read(container_id, ifname)
        if record is not None:
            _teardown(node, record)
        records.remove(container_id, ifname)


PLUGIN = skel.Plugin(
    "bandwidth",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    about=ABOUT,
    fields=fields,
    supported_versions=versions.ALL[versions.ALL.index("0.3.0") :],
)
