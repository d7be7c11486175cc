# SPDX-License-Identifier: Apache-2.0
"""The vrf plugin: the pod's interface enslaved to a VRF in the pod (chained).

Keys of the reference: `vrfname` (required), `table` (optional: an existing VRF with
another table is an error; a new VRF without one gets the first table from 1 that no VRF
of the namespace uses). ADD creates the VRF when missing, enslaves the interface (one
with a master already is refused), puts back the global IPv6 addresses the kernel drops
on enslaving (waiting, bounded, for their local routes in the VRF's table), and copies
the interface's gateway routes (IPAM's too) into the VRF's table, as the reference does.
DEL frees the interface and deletes the VRF once no interface is left in it.

Ours adds `dataDir` (default `/run/cni/vrf`), where ADD records the addresses and routes
it carried over, so that DEL gives the interface back as it was before (its IPv6 addresses
and main-table routes too; the reference only frees it), and tolerates an interface or a
namespace that is gone (the reference fails when the interface is). GC drops the records
of lost attachments.
"""

from __future__ import annotations

from cni import skel, versions
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni._native import Netlink, Route
    from cni.plugins._fields import Field
    from cni.plugins._records import Records

ABOUT = "vrf plugin (cni package)"
DEFAULT_DATA_DIR = "/run/cni/vrf"
SCOPE_UNIVERSE = 0
LOCAL = 255
LOCAL_ROUTE_TRIES = 9  # 10 ms doubling: at most about 5 s, as the reference waits
_EEXIST, _ENODEV = 17, 19


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import UINT32, ifname, integer, path_string

    vrfname = ifname("vrfname", "the VRF to enslave the interface to (made when missing)")
    table = integer("table", 0, UINT32, "the VRF's routing table (0: the first free)")
    table.ignored_by_del = True
    return (vrfname, table, path_string("dataDir", f"where ADD records what it moved (default {DEFAULT_DATA_DIR})"))


def _vrfname(args: skel.CmdArgs) -> str:
    name = args.conf.get("vrfname")
    if not isinstance(name, str) or not name:
        raise InvalidNetworkConfig("vrf: vrfname is required")
    return name


def _records(args: skel.CmdArgs) -> Records:
    from cni.plugins._records import Records

    return Records.of(args.conf, DEFAULT_DATA_DIR)


def _global_v6(pod: Netlink, ifname: str) -> list[str]:
    return [a for a in pod.addresses(ifname) if ":" in a and not a.lower().startswith("fe80")]


def _route(route: Route) -> dict[str, object]:
    return {"dst": route.dst, "gw": route.gw, "priority": route.priority, "scope": route.scope}


def _find_vrf(pod: Netlink, name: str) -> int | None:
    """The VRF's table, or None when there is no link of that name."""
    link = pod.link(name)
    if link is None:
        return None
    if link.kind != "vrf" or link.vrf_table is None:
        raise InvalidNetworkConfig(f"vrf: {name} exists and is not a VRF")
    return link.vrf_table


def _free_table(pod: Netlink) -> int:
    taken = {link.vrf_table for link in pod.links() if link.kind == "vrf"}
    table = 1
    while table in taken:
        table += 1
    return table


def _wait_for_local_route(pod: Netlink, address: str, table: int, index: int) -> None:
    import time

    ip = address.split("/")[0]
    for attempt in range(LOCAL_ROUTE_TRIES):
        routes = pod.routes(6)
        if any(r.table == table and r.oif == index and r.dst.split("/")[0] == ip for r in routes):
            return
        time.sleep(0.01 * (1 << attempt))
    raise CNIError(f"vrf: the local route of {address} did not appear in table {table}")


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    from cni._native import Netlink
    from cni.conversion import convert
    from cni.plugins._iface import add_recorded_route

    name = _vrfname(args)
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        raise InvalidNetworkConfig("vrf: missing prevResult from an earlier plugin")
    wanted = args.conf.get("table")
    wanted = wanted if isinstance(wanted, int) and wanted else None
    pod = Netlink(args.netns)
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"vrf: interface {args.ifname} not found in {args.netns}")
    if link.master is not None:
        master = pod.link_by_index(link.master)
        raise CNIError(f"vrf: {args.ifname} has a master already: {master.name if master else link.master}")
    table = _find_vrf(pod, name)
    if table is not None and wanted is not None and table != wanted:
        raise InvalidNetworkConfig(f"vrf: VRF {name} exists with another routing table, {table}")
    created = table is None
    table = table if table is not None else (wanted or _free_table(pod))
    addresses = _global_v6(pod, args.ifname)
    routes = [
        _route(r)
        for family in (4, 6)
        for r in pod.routes(family)
        if r.oif == link.index and r.scope == SCOPE_UNIVERSE and r.table == 254
    ]
    record = {"vrf": name, "table": table, "created": created, "index": link.index, "v6": addresses, "routes": routes}
    records = _records(args)
    records.write(args.container_id, args.ifname, record)
    try:
        if created:
            pod.add_vrf(name, table)
            pod.set_link(name, up=True)
        pod.set_link(args.ifname, master=name)
        kept = set(_global_v6(pod, args.ifname))
        for address in addresses:
            if address not in kept:
                pod.add_address(args.ifname, address)
                _wait_for_local_route(pod, address, table, link.index)
        for route in routes:
            add_recorded_route(pod, args.ifname, route, table)
    except BaseException:
        _undo(pod, args.ifname, record)
        records.remove(args.container_id, args.ifname)
        raise
    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _undo(pod: Netlink, ifname: str, record: dict[str, object]) -> None:
    """Frees the interface as it was, and the VRF once it is empty."""
    from cni.plugins._iface import add_recorded_route

    name = record.get("vrf")
    if not isinstance(name, str):
        return
    vrf = pod.link(name)
    link = pod.link(ifname)
    if link is not None and link.index == record.get("index") and vrf is not None and link.master == vrf.index:
        pod.set_link(ifname, master="")
        present = set(pod.addresses(ifname))
        local = {r.dst.split("/")[0] for r in pod.routes(6) if r.table == LOCAL and r.oif == link.index}
        addresses = record.get("v6")
        for address in addresses if isinstance(addresses, list) else []:
            if not isinstance(address, str):
                continue
            if address in present and address.split("/")[0] not in local:
                # Kept, but its local route went with the VRF's table: re-adding makes it.
                pod.del_address(ifname, address)
                present.discard(address)
            if address not in present:
                pod.add_address(ifname, address)
                _wait_for_local_route(pod, address, LOCAL, link.index)
        routes = record.get("routes")
        for route in routes if isinstance(routes, list) else []:
            if isinstance(route, dict):
                try:
                    add_recorded_route(pod, ifname, route)
                except NetlinkError as err:
                    if err.errno not in (_EEXIST, _ENODEV):
                        raise
    if vrf is not None and vrf.kind == "vrf" and not any(other.master == vrf.index for other in pod.links()):
        try:
            pod.del_link(name)
        except NetlinkError as err:
            if err.errno != _ENODEV:
                raise


def cmd_del(args: skel.CmdArgs) -> None:
    from cni.plugins._iface import open_pod

    name = _vrfname(args)
    records = _records(args)
    record = records.read(args.container_id, args.ifname)
    pod = open_pod(args)
    if pod is not None:
        if record is None:
            # An ADD of the reference's: free the interface, as it does.
            link = pod.link(args.ifname)
            record = {"vrf": name, "index": link.index if link is not None else None}
        _undo(pod, args.ifname, record)
    records.remove(args.container_id, args.ifname)


def cmd_check(args: skel.CmdArgs) -> None:
    from cni._native import Netlink

    name = _vrfname(args)
    pod = Netlink(args.netns)
    vrf = pod.link(name)
    if vrf is None or vrf.kind != "vrf":
        raise CNIError(f"vrf: VRF {name} not found")
    link = pod.link(args.ifname)
    if link is None or link.master != vrf.index:
        raise CNIError(f"vrf: {args.ifname} is not enslaved to {name}")


def cmd_gc(args: skel.CmdArgs) -> None:
    from cni.plugins._records import forget_lost

    forget_lost(_records(args), args.valid_attachments())


PLUGIN = skel.Plugin(
    "vrf",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    about=ABOUT,
    fields=fields,
    supported_versions=versions.ALL[versions.ALL.index("0.3.1") :],
)
