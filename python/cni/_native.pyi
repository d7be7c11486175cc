# SPDX-License-Identifier: Apache-2.0
"""The Rust extension. Private: use the public modules of `cni`."""

from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv6Address
from typing import final

__all__ = [
    "AddressPool",
    "IPAllocator",
    "RangeSet",
    "Link",
    "Netlink",
    "Route",
    "Rule",
    "cidr_has",
    "create_tap",
    "encode_veth_setup",
    "dumps",
    "enter_namespaces",
    "loads",
    "network_of",
    "parse_cidr_text",
    "parse_ip_text",
    "ForwardRules",
    "MasqRules",
    "NftBatch",
    "PortmapRules",
    "conntrack_flush_udp_ports",
    "isolation_iptables",
    "masq_iptables_del",
    "nft_usable",
    "portmap_iptables_del",
    "portmap_iptables_stale",
    "spoofcheck_setup",
    "spoofcheck_teardown",
    "read_sysctls",
    "sysctl_path",
    "tbf_shaping",
    "bandwidth_ifb_name",
    "socket_in_netns",
    "write_sysctl",
    "write_sysctls",
    "warm_encode",
    "warm_finished",
    "warm_header",
    "warm_pages_populate",
    "warm_pages_sizes",
    "warm_pages_touched",
    "warm_pages_union",
    "warm_request",
    "warm_watch",
    "REFUSE_BAD_REQUEST",
    "REFUSE_CALLER",
    "REFUSE_NAMESPACES",
    "REFUSE_PRIVILEGES",
    "REFUSE_UNKNOWN_PLUGIN",
    "REFUSE_VERSION",
    "WARM_EXIT",
    "WARM_FDS",
    "WARM_FRAME_LEN",
    "WARM_HEADER_LEN",
    "WARM_PROTOCOL",
    "WARM_REFUSED",
]

def loads(data: str | bytes) -> object:
    """Parses one JSON document.

    Stricter than `json.loads`: a repeated object key or NaN/Infinity is refused.

    Raises:
        cni.errors.DecodingFailure: not valid JSON, or a duplicate key (CNI code 6).
        cni.errors.IOFailure: nested deeper than 64 levels (CNI code 5).
    """

def dumps(obj: object, indent: int | None = None) -> str:
    """Serialises dicts (str keys), lists, tuples, str, int, float, bool and None.

    Raises:
        TypeError: another type, or a non-str key.
        ValueError: a NaN or infinite float.
    """

@final
class IPAllocator:
    """An IP address allocator over one range, in host-local's round-robin order.

    Memory and time do not depend on the size of the range: a /8 or an IPv6 /64 costs
    what its used addresses cost. The network address (and for IPv4 the broadcast
    address) are never handed out; `gateway`, when given, is skipped.

    Arguments:
        subnet: the range's subnet, e.g. "10.0.0.0/24" (host bits must be clear).
        range_start: first address to hand out (default: the one after the network address).
        range_end: last address to hand out (default: the last of the subnet, for IPv4 the
            one before broadcast).
        gateway: an address never handed out.

    Addresses are accepted as `str` or `ipaddress` objects and returned as `ipaddress`
    objects.

    Raises:
        ValueError: an invalid subnet or bound.
    """

    def __new__(
        cls,
        subnet: object,
        *,
        range_start: object | None = None,
        range_end: object | None = None,
        gateway: object | None = None,
    ) -> IPAllocator: ...
    def allocate(self) -> IPv4Address | IPv6Address:
        """The next free address after the last one reserved.

        Raises:
            cni.errors.AddressExhausted: no address is free.
        """
    def reserve(self, ip: str | IPv4Address | IPv6Address) -> None:
        """Reserves a given address.

        Raises:
            cni.errors.AddressOutOfRange: outside the range, the gateway, or the other family.
            cni.errors.AddressInUse: already reserved.
        """
    def release(self, ip: str | IPv4Address | IPv6Address) -> bool:
        """Frees an address; False if it was not reserved."""
    def load(self, ips: Iterable[str | IPv4Address | IPv6Address]) -> None:
        """Reserves every address in `ips` (raises like `reserve`)."""
    def __contains__(self, ip: object, /) -> bool: ...
    def __len__(self) -> int:
        """How many addresses are reserved."""
    def __iter__(self) -> Iterator[IPv4Address | IPv6Address]:
        """Reserved addresses, ascending."""
    @property
    def free(self) -> int:
        """How many addresses can still be handed out."""
    @property
    def size(self) -> int:
        """How many addresses the range can hand out in all."""
    @property
    def subnet(self) -> str: ...
    @property
    def range_start(self) -> IPv4Address | IPv6Address: ...
    @property
    def range_end(self) -> IPv4Address | IPv6Address: ...
    @property
    def gateway(self) -> IPv4Address | IPv6Address | None: ...
    @property
    def last(self) -> IPv4Address | IPv6Address | None:
        """The address reserved last: allocation continues after it."""

@final
class AddressPool:
    """Addresses in use on a network, both families, as text (for the host-local plugin)."""

    def __new__(cls) -> AddressPool: ...
    @staticmethod
    def from_bytes(data: bytes) -> AddressPool | None:
        """Rebuilds a pool from `to_bytes()`; None if `data` is not such a dump."""
    def to_bytes(self) -> bytes: ...
    def add(self, ip: str) -> bool:
        """Marks `ip` used; False if it already was. Raises ValueError for a bad address."""
    def remove(self, ip: str) -> bool:
        """Marks `ip` free; False if it already was."""
    def __contains__(self, ip: str, /) -> bool: ...
    def __len__(self) -> int: ...
    def addresses(self) -> list[str]:
        """Used addresses: IPv4 ascending, then IPv6 ascending."""

@final
class RangeSet:
    """A validated host-local range set (one family, no overlaps).

    Arguments:
        ranges: objects with `subnet` and optional `rangeStart`, `rangeEnd`, `gateway`
            (a missing gateway is the subnet's first address, as in host-local).

    Raises:
        cni.errors.InvalidNetworkConfig: a range is invalid; the message names the problem.
    """

    def __new__(cls, ranges: list[dict[str, object]]) -> RangeSet: ...
    @property
    def family(self) -> int:
        """4 or 6."""
    def overlaps(self, other: RangeSet) -> bool: ...
    def __contains__(self, ip: str, /) -> bool: ...
    def check_request(self, ip: str) -> int:
        """The index of the range that can hand out `ip`.

        Raises:
            cni.errors.AddressOutOfRange: outside every range, the gateway, or the other family.
            ValueError: not an address.
        """
    def next_free(self, pool: AddressPool, last: str | None = None) -> tuple[int, str] | None:
        """`(range index, address)` of the next free address after `last`, or None."""
    def free(self, pool: AddressPool) -> int:
        """How many addresses the set can still hand out."""
    def range_info(self, index: int) -> tuple[int, str | None]:
        """`(prefix length, gateway)` of range `index`."""

def parse_cidr_text(text: str) -> tuple[str, int, int]:
    """`(address, prefix length, family 4 or 6)` of `address/prefix`; host bits may be set.

    Raises:
        ValueError: not an address with a prefix length.
    """

def parse_ip_text(text: str) -> tuple[str, int]:
    """`(canonical text, family 4 or 6)` of an address. Raises ValueError if it is not one."""

def cidr_has(cidr: str, ip: str) -> bool:
    """Whether `ip` lies in the network of `cidr`. Raises ValueError for bad input."""

@final
class Link:
    """A link, as the kernel reports it (a frozen record)."""

    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def mtu(self) -> int: ...
    @property
    def mac(self) -> str:
        """`aa:bb:cc:dd:ee:ff`, or "" for a link without one."""
    @property
    def up(self) -> bool: ...
    @property
    def promisc(self) -> bool: ...
    @property
    def allmulti(self) -> bool: ...
    @property
    def master(self) -> int | None:
        """The index of the link's master (a bridge, a VRF)."""
    @property
    def kind(self) -> str | None:
        """The kernel's name of the kind: veth, bridge, macvlan, ...; None for a device."""
    @property
    def alias(self) -> str | None: ...
    @property
    def txqlen(self) -> int: ...
    @property
    def link(self) -> int | None:
        """The index of the link this one is tied to: a veth's peer (an index in the
        peer's namespace), a macvlan's parent."""
    @property
    def vrf_table(self) -> int | None:
        """A VRF's routing table."""

@final
class Route:
    """A route the kernel holds (a frozen record)."""

    @property
    def dst(self) -> str:
        """`10.0.0.0/8`; `0.0.0.0/0` or `::/0` for a default route."""
    @property
    def gw(self) -> str | None: ...
    @property
    def oif(self) -> int | None: ...
    @property
    def priority(self) -> int | None: ...
    @property
    def table(self) -> int: ...
    @property
    def scope(self) -> int: ...
    @property
    def src(self) -> str | None:
        """The preferred source address (RTA_PREFSRC)."""
    @property
    def protocol(self) -> int:
        """RTPROT_*: 2 kernel, 3 boot, 4 static, ..."""
    @property
    def kind(self) -> int:
        """RTN_*: 1 unicast, 2 local, 3 broadcast, 5 multicast, ..."""

@final
class Rule:
    """A policy-routing rule (a frozen record): packets matching every selector given look
    up `table`."""

    @property
    def table(self) -> int: ...
    @property
    def priority(self) -> int | None: ...
    @property
    def src(self) -> str | None: ...
    @property
    def dst(self) -> str | None: ...
    @property
    def iif(self) -> str | None: ...
    @property
    def oif(self) -> str | None: ...

@final
class Netlink:
    """rtnetlink in one network namespace: the caller's, or the one at `netns`.

    The socket is opened inside that namespace on a short-lived thread, so the calling
    thread never changes namespace. Every failure raises `cni.errors.NetlinkError`
    carrying `errno` and `operation`; links are named, and looked up by name.
    """

    def __new__(cls, netns: str | None = None) -> Netlink: ...
    @property
    def netns(self) -> str | None: ...
    def links(self) -> list[Link]:
        """Every link."""
    def link(self, name: str) -> Link | None:
        """The link called `name`, or None."""
    def add_veth(
        self,
        name: str,
        peer: str,
        *,
        peer_netns: str | None = None,
        mtu: int = 0,
        mac: str | None = None,
        peer_mac: str | None = None,
    ) -> None:
        """A veth pair; the peer is created directly in `peer_netns` when given."""
    def add_link(self, kind: str, name: str, *, mtu: int = 0, vlan_filtering: bool = False) -> None:
        """A bridge, dummy or ifb link (EEXIST when the name is taken)."""
    def add_lower(
        self,
        kind: str,
        name: str,
        master: str,
        *,
        mode: str | None = None,
        vlan_id: int = 0,
        netns: str | None = None,
        mtu: int = 0,
        mac: str | None = None,
        bc_queue_len: int = 0,
    ) -> None:
        """A macvlan, ipvlan or vlan link on `master`, created directly inside `netns`.

        `bc_queue_len` (macvlan): the broadcast queue length; 0 keeps the kernel's default.
        """
    def set_link(
        self,
        name: str,
        *,
        up: bool | None = None,
        promisc: bool | None = None,
        mtu: int | None = None,
        mac: str | None = None,
        master: str | None = None,
        netns: str | None = None,
        new_name: str | None = None,
        alias: str | None = None,
        txqlen: int | None = None,
        allmulti: bool | None = None,
    ) -> None:
        """Changes a link; `master=""` detaches it, `netns` moves it."""
    def set_bridge_port(self, name: str, *, hairpin: bool | None = None, isolated: bool | None = None) -> None:
        """Flags of a bridge port: hairpin mode, port isolation."""
    def bridge_vlan(self, name: str, vid: int, *, pvid: bool = False, untagged: bool = False, add: bool = True) -> None:
        """Adds (or with `add=False` removes) a VLAN on a bridge port."""
    def link_by_index(self, index: int) -> Link | None: ...
    def add_tbf(self, name: str, rate: int, burst: int) -> None:
        """A token bucket filter (handle 1:) as the root qdisc of `name`: `rate` bits/s,
        `burst` bits, a 25 ms queue, as the reference shapes.

        Raises:
            cni.errors.NetlinkError: EEXIST when `name` has a root qdisc of its own.
        """
    def tbf(self, name: str) -> tuple[int, int, int] | None:
        """The root TBF of `name` as (rate in bytes/s, buffer in ticks, limit in bytes),
        or None when its root qdisc is not a TBF."""
    def qdiscs(self, name: str) -> list[tuple[str, int, int]]:
        """The qdiscs of `name` as (kind, handle, parent); the kernel's default root qdisc
        (noqueue, pfifo_fast, ...) has handle 0."""
    def add_ingress_redirect(self, name: str, to: str) -> None:
        """The ingress qdisc (ffff:) of `name` with a u32 filter that redirects every
        packet to link `to` (mirred egress redirect); the qdisc goes again if the filter
        is refused."""
    def redirect_targets(self, name: str) -> list[int]:
        """The indexes of the links the ingress filters of `name` redirect to."""
    def del_qdisc(self, name: str, *, ingress: bool = False) -> None:
        """Removes the root (or the ingress) qdisc of `name`; absent is no error."""
    def del_link(self, name: str) -> None: ...
    def add_address(self, name: str, cidr: str) -> None: ...
    def del_address(self, name: str, cidr: str) -> None: ...
    def addresses(self, name: str | None = None) -> list[str]:
        """Addresses in CIDR form, of link `name` or of every link."""
    def add_route(
        self,
        dst: str,
        *,
        gw: str | None = None,
        dev: str | None = None,
        priority: int | None = None,
        table: int | None = None,
        scope: int | None = None,
        mtu: int | None = None,
        advmss: int | None = None,
        src: str | None = None,
        protocol: int | None = None,
        replace: bool = False,
    ) -> None:
        """A route to `dst` (CIDR); `src` is the preferred source, `protocol` the RTPROT_*
        it is marked with (boot, 3, unless given)."""
    def configure(self, name: str, *, addresses: list[str], routes: list[dict[str, object]], up: bool = True) -> None:
        """Brings `name` up, adds `addresses` (CIDR) and adds or replaces `routes` through
        it, as one batch: a single send, then every acknowledgement.

        A route is a dict with `dst` and optionally `gw`, `priority`, `table`, `scope`,
        `mtu`, `advmss`. The kernel handles the requests in order, each on its own; the
        first failure is raised (NetlinkError naming that step) after all are answered.
        """
    def del_route(
        self,
        dst: str,
        *,
        dev: str | None = None,
        table: int | None = None,
        gw: str | None = None,
        priority: int | None = None,
    ) -> None:
        """Deletes the route to `dst` (each other argument given narrows the match);
        NetlinkError with errno ESRCH when there is none."""
    def add_rule(
        self,
        *,
        table: int,
        priority: int | None = None,
        src: str | None = None,
        dst: str | None = None,
        iif: str | None = None,
        oif: str | None = None,
        family: int = 4,
    ) -> None:
        """A policy-routing rule: packets matching every given selector look up `table`.

        `src` and `dst` are CIDRs and set the family (else `family`, 4 or 6).
        """
    def del_rule(
        self,
        *,
        table: int,
        priority: int | None = None,
        src: str | None = None,
        dst: str | None = None,
        iif: str | None = None,
        oif: str | None = None,
        family: int = 4,
    ) -> None:
        """Deletes the rule with exactly these selectors; NetlinkError (ENOENT) if none."""
    def rules(self, family: int = 4) -> list[Rule]:
        """Rules of one family (4 or 6)."""
    def add_vrf(self, name: str, table: int) -> None:
        """A VRF device bound to routing table `table`."""
    def routes(self, family: int = 4) -> list[Route]:
        """Routes of one family (4 or 6) in every table."""

def write_sysctl(key: str, value: str, netns: str | None = None) -> None:
    """Writes a sysctl under /proc/sys/net/ (dotted or slashed key) in `netns` or ours.

    Raises:
        cni.errors.InvalidValue: the key leaves /proc/sys/net/.
        cni.errors.NetlinkError: the write failed (errno kept).
    """

def write_sysctls(entries: list[tuple[str, str]], netns: str | None = None) -> None:
    """Writes (key, value) sysctls in order in `netns` or ours, all or nothing: when one
    write fails, the ones already made get their earlier values back.

    Raises:
        cni.errors.InvalidValue: a key leaves /proc/sys/net/ (nothing is written).
        cni.errors.NetlinkError: a write failed (errno kept, the operation names the file).
    """

def read_sysctls(keys: list[str], netns: str | None = None) -> list[str]:
    """The values of sysctls under /proc/sys/net/ in `netns` or ours (trailing newline cut).

    Raises:
        cni.errors.InvalidValue: a key leaves /proc/sys/net/.
        cni.errors.NetlinkError: a read failed (errno kept, the operation names the file).
    """

def socket_in_netns(netns: str, family: int, kind: int) -> int:
    """A socket (`socket.AF_*`, `socket.SOCK_*`) made inside the network namespace at
    `netns`, as a file descriptor the caller owns (close-on-exec): it stays in that namespace.

    Raises:
        cni.errors.NetlinkError: the namespace cannot be entered or the socket made.
    """

def bandwidth_ifb_name(network: str, container_id: str) -> str:
    """`bwp` and the hex SHA-512 of network name and container ID, 15 characters: the
    reference's name of the IFB that shapes an attachment's egress."""

def tbf_shaping(rate: int, burst: int) -> tuple[int, int, int]:
    """The kernel parameters of a TBF for `rate` bits/s and `burst` bits, as
    (rate in bytes/s, buffer in ticks, limit in bytes): what `Netlink.tbf` reports."""

def sysctl_path(key: str) -> str:
    """The file of sysctl `key` (dotted, or a path with slashes that keeps its dots).

    Raises:
        cni.errors.InvalidValue: the key would leave /proc/sys/net/.
    """

def encode_veth_setup(host: str, peer: str, index: int, cidr: str, gateway: str) -> list[bytes]:
    """The netlink messages of a veth + address + default route setup, encoded (no I/O).

    No plugin calls it: it is how pyroute2, an independent encoder, checks the bytes our
    core sends (tests/netns/test_netlink_bytes.py) and how benches/test_netlink.py compares
    encoding costs."""

def network_of(cidr: str) -> str:
    """The network of `address/prefix` (host bits cleared). Raises ValueError for bad input."""

def create_tap(
    name: str,
    *,
    netns: str | None = None,
    multi_queue: bool = False,
    owner: int | None = None,
    group: int | None = None,
) -> None:
    """Creates a persistent tap device (VNET_HDR; MULTI_QUEUE on request) in `netns` or ours.

    Raises:
        cni.errors.NetlinkError: the name is taken (EBUSY) or invalid, or /dev/net/tun failed.
    """

def spoofcheck_setup(host_iface: str, mac: str, container_id: str, ifname: str) -> str:
    """The `nft -f -` transaction for bridge `macspoofchk` on one port (reference layout)."""

def spoofcheck_teardown(container_id: str, ifname: str, jump_handles: list[int], chains_exist: bool) -> str:
    """The `nft -f -` transaction that removes one port's `macspoofchk` rules and chains."""

# --- firewall rules (rust/core/src/firewall) ---------------------------------------------------
# nft_* methods send nf_tables batches in the caller's network namespace; iptables_* methods
# plan an iptables-restore script against iptables-save output and return it. Bad values
# raise cni.errors.InvalidValue (code 7); a kernel refusal raises cni.errors.NetlinkError
# naming the operation.

@final
class NftBatch:
    """One nf_tables transaction."""

    def text(self) -> str:
        """The transaction as an `nft -f` script."""
    def debug(self) -> list[list[str]]:
        """Each rule's expressions as `nft --debug=netlink` lists them."""
    def apply(self) -> None:
        """Sends it as one transaction (all or nothing)."""

@final
class PortmapRules:
    """portmap's rules for one attachment and one address family."""

    def __new__(
        cls,
        network: str,
        container_id: str,
        ifname: str,
        pod: str,
        mappings: list[tuple[int, int, str, str | None]],
        snat: bool = True,
        masq_all: bool = False,
        mark_bit: int = 13,
        set_mark_chain: str | None = None,
        conditions: list[str] = ...,
    ) -> PortmapRules:
        """`pod` is the pod's address with its prefix; a mapping is (hostPort,
        containerPort, protocol, hostIP or None)."""
    def nft_batches(self) -> list[NftBatch]:
        """The skeleton and the ADD transaction."""
    def nft_add(self) -> None: ...
    def nft_del(self) -> None:
        """Removes the attachment's chains and the elements that still point at them."""
    def nft_check(self) -> list[str]:
        """What is missing (empty: all there)."""
    def iptables_add(self, saved: str) -> str: ...
    def iptables_del(self, saved: str | None = None) -> str:
        """Without `saved`: planned against what our ADD left (no iptables-save)."""
    def iptables_check(self, saved: str) -> list[str]: ...

@final
class MasqRules:
    """ipMasq for one attachment's addresses of one family (CIDRs)."""

    def __new__(cls, network: str, container_id: str, ifname: str, addrs: list[str]) -> MasqRules: ...
    def nft_batches(self) -> list[NftBatch]: ...
    def nft_add(self) -> None: ...
    def nft_del(self) -> None: ...
    def nft_check(self) -> list[str]: ...
    def iptables_add(self, saved: str) -> str: ...
    def iptables_del(self, saved: str | None = None) -> str: ...
    def iptables_check(self, saved: str) -> list[str]: ...

@final
class ForwardRules:
    """The firewall plugin's rules for one attachment's addresses of one family."""

    def __new__(cls, network: str, container_id: str, ifname: str, addrs: list[str], admin: str) -> ForwardRules: ...
    def nft_batches(self) -> list[NftBatch]: ...
    def nft_add(self) -> None: ...
    def nft_del(self) -> None: ...
    def nft_check(self) -> list[str]: ...
    def iptables_add(self, saved: str) -> str: ...
    def iptables_del(self, saved: str) -> str: ...
    def iptables_check(self, saved: str) -> list[str]: ...

def nft_usable() -> str | None:
    """None when nf_tables answers here, else why not."""

def portmap_iptables_del(saved: str, network: str, container_id: str) -> str:
    """The DEL script for an attachment's reference-layout chains (nat table)."""

def portmap_iptables_stale(saved: str, network: str, valid: list[str]) -> list[str]:
    """Containers of `network` with portmap chains that are not in `valid`."""

def masq_iptables_del(saved: str, network: str, container_id: str) -> str:
    """The DEL script for an attachment's ipMasq chain (nat table)."""

def isolation_iptables(saved: str, bridge: str, isolated: bool) -> str:
    """The firewall plugin's ingress isolation for a bridge (filter table)."""

def conntrack_flush_udp_ports(ports: list[int]) -> int:
    """Deletes conntrack entries of UDP connections to these ports; returns how many."""

# The warm plugin path (cni_core::warm): the agent's side of the shim's protocol.

WARM_HEADER_LEN: int
WARM_FRAME_LEN: int
WARM_FDS: int
WARM_PROTOCOL: int
WARM_REFUSED: int
WARM_EXIT: int
REFUSE_BAD_REQUEST: int
REFUSE_VERSION: int
REFUSE_UNKNOWN_PLUGIN: int
REFUSE_CALLER: int
REFUSE_PRIVILEGES: int
REFUSE_NAMESPACES: int

def warm_header(header: bytes) -> int:
    """The body length a 12-byte request header announces; DecodingFailure if it is not one."""

def warm_request(body: bytes) -> tuple[bytes, bytes, bytes, int, list[bytes], list[bytes]]:
    """A request body: (version, plugin, cwd, umask, argv, env); DecodingFailure if malformed."""

def warm_encode(version: bytes, plugin: bytes, cwd: bytes, umask: int, argv: list[bytes], env: list[bytes]) -> bytes:
    """A request as the shim sends it (header and body)."""

def warm_watch(conn_fd: int) -> None:
    """Arms the worker's watch on the connection (O_ASYNC, a SIGIO handler in Rust): forwarded
    signals raised here, a hang-up kills."""

def warm_finished() -> None:
    """The plugin is done: the shim's hanging up no longer kills this process."""

def enter_namespaces(net_fd: int, mnt_fd: int) -> None:
    """Moves this (single-threaded) process into these network and mount namespaces."""

def warm_pages_touched() -> bytes:
    """The pages this process touched since its fork (private ones it alone maps, read-only
    file pages it maps), as encoded runs."""

def warm_pages_union(lists: list[bytes]) -> bytes:
    """The union of encoded runs, encoded; InvalidValue for bytes that are not runs."""

def warm_pages_sizes(runs: bytes) -> tuple[int, int]:
    """The bytes of these runs in this process's private writable mappings, and in its
    read-only file mappings."""

def warm_pages_populate(runs: bytes) -> int:
    """Takes the faults of these pages now (MADV_POPULATE_WRITE in private writable
    mappings, MADV_POPULATE_READ in read-only file mappings); returns how many pages;
    pages no longer mapped so are skipped."""
