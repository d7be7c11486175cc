# SPDX-License-Identifier: Apache-2.0
"""ipMasq for bridge and ptp: the attachment's traffic to anywhere but its own subnets
(and multicast) leaves with the node's address.

`ipMasqBackend` picks iptables or nftables (default: iptables unless only nftables works,
as the reference chooses). The addresses are recorded before the rules go in
(`/run/cni/ipmasq`, see :mod:`cni.plugins._records`), so that DEL removes them whatever
the config now says and however the attachment ended (netns gone, no prevResult), and GC
removes those of attachments no longer valid. DEL also removes the reference's iptables
chain of the attachment, so a node that ran the reference plugins leaks nothing.
"""

from __future__ import annotations

from cni.errors import CNIError
from cni.plugins import _netfilter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni import skel
    from cni._native import MasqRules
    from cni.plugins._records import Records

DATA_DIR = "/run/cni/ipmasq"


def _records(args: skel.CmdArgs) -> Records:
    from cni.plugins._records import Records

    return Records(DATA_DIR, str(args.conf["name"]))


def _rules(args: skel.CmdArgs, container_id: str, ifname: str, addrs: list[str]) -> MasqRules:
    from cni._native import MasqRules

    return MasqRules(str(args.conf["name"]), container_id, ifname, addrs)


def setup(args: skel.CmdArgs, addrs: list[str]) -> None:
    """Masquerades the attachment's addresses (CIDRs, as the IPAM result gives them)."""
    records = _records(args)
    with _netfilter.Lock():
        backend = _netfilter.choose(args.conf.get("ipMasqBackend"))
        records.write(args.container_id, args.ifname, {"backend": backend, "addresses": addrs})
        try:
            for v6, group in _netfilter.by_family(addrs):
                rules = _rules(args, args.container_id, args.ifname, group)
                if backend == _netfilter.NFTABLES:
                    rules.nft_add()
                else:
                    _netfilter.restore(v6, rules.iptables_add(_netfilter.save(v6, "nat")))
        except BaseException:
            _remove(args, args.container_id, args.ifname, addrs, [backend])
            records.remove(args.container_id, args.ifname)
            raise


def _remove(
    args: skel.CmdArgs,
    container_id: str,
    ifname: str,
    addrs: list[str],
    backends: list[str],
    families: tuple[bool, ...] = (False, True),
) -> None:
    from cni._native import masq_iptables_del

    network = str(args.conf["name"])
    if _netfilter.IPTABLES in backends:
        for v6 in families:
            try:
                saved = _netfilter.save(v6, "nat")
            except CNIError:
                continue
            _netfilter.restore(v6, masq_iptables_del(saved, network, container_id))
    if _netfilter.NFTABLES in backends:
        for _, group in _netfilter.by_family(addrs):
            _rules(args, container_id, ifname, group).nft_del()


def _teardown(args: skel.CmdArgs, container_id: str, ifname: str, known: list[str]) -> None:
    records = _records(args)
    record = records.read(container_id, ifname)
    recorded = record.get("addresses") if record else None
    backend = record.get("backend") if record else None
    if isinstance(recorded, list) and backend in _netfilter.BACKENDS:
        # The record says where the rules went and what they are.
        addrs = [a for a in recorded if isinstance(a, str)]
        if backend == _netfilter.NFTABLES:
            _remove(args, container_id, ifname, addrs, [backend])
        else:
            for v6, group in _netfilter.by_family(addrs):
                try:  # without reading the whole table first; when that does not apply, read it
                    _netfilter.restore(v6, _rules(args, container_id, ifname, group).iptables_del())
                except CNIError:
                    _remove(args, container_id, ifname, group, [backend], (v6,))
    else:
        _remove(args, container_id, ifname, known, _netfilter.usable())
    records.remove(container_id, ifname)


def teardown(args: skel.CmdArgs) -> None:
    """Removes the attachment's masquerade rules: those its record names, else (with
    `ipMasq` set) those of prevResult's addresses, on every usable backend. Nothing to do,
    and nothing exec'd, when neither says there are any."""
    known = addresses(args.conf.get("prevResult"))
    if not _records(args).exists(args.container_id, args.ifname) and args.conf.get("ipMasq") is not True:
        return
    with _netfilter.Lock():
        _teardown(args, args.container_id, args.ifname, known)


def addresses(result: object) -> list[str]:
    """The addresses (CIDRs) of a result."""
    from cni.plugins._iface import result_ips

    if not isinstance(result, dict):
        return []
    return [str(ip["address"]) for ip in result_ips(result) if isinstance(ip.get("address"), str)]


def gc(args: skel.CmdArgs) -> None:
    """Removes the rules of recorded attachments that are no longer valid."""
    from cni.plugins._records import valid_set

    valid = valid_set(args.valid_attachments())
    with _netfilter.Lock():
        for container_id, ifname in list(_records(args).stale(valid)):
            _teardown(args, container_id, ifname, [])


def check(args: skel.CmdArgs, addrs: list[str]) -> None:
    record = _records(args).read(args.container_id, args.ifname)
    backend = record.get("backend") if record else None
    missing: list[str] = []
    for v6, group in _netfilter.by_family(addrs):
        rules = _rules(args, args.container_id, args.ifname, group)
        if backend == _netfilter.NFTABLES:
            missing += rules.nft_check()
        else:
            missing += rules.iptables_check(_netfilter.save(v6, "nat"))
    if missing:
        raise CNIError(f"ipMasq rules missing: {'; '.join(missing)}")
