# SPDX-License-Identifier: Apache-2.0
"""The cluster-ipam IPAM plugin: address blocks claimed per node in etcd, addresses from
the Rust allocator inside the node's own blocks.

Keys under `ipam`: `pools` (CIDRs, IPv4 and IPv6; an ADD gets one address of each family
the pools hold), `blockSize` and `blockSizeV6` (prefix lengths, default 26 and 122),
`etcd` (`endpoints`, `caFile`, `certFile`, `keyFile`), `prefix` (default `/cni-ipam`),
`node` (default: the hostname), `dataDir` (default `/var/lib/cni/cluster-ipam`), `routes`.

In etcd, under `<prefix>/<network>/`: `blocks/<cidr>` holds the claim of the node that owns
a block (made with a create-if-absent transaction, so two nodes never own one block),
`ips/<address>` the attachment holding an address (written through at ADD, in a
transaction that checks the block is still this node's), `nodes/<node>` the node's
liveness (a key on an etcd lease, refreshed at half its TTL) and `seen/<node>` when it was
last refreshed. On the node, a record of its blocks (`<dataDir>/blocks/<network>.json`,
replaced atomically) and host-local's crash-safe reservation store with its index
(`<dataDir>/reservations/<network>/`); every operation holds the store's lock.

A node claims a block only when its blocks of that family are full, and gives back a block
that a DEL leaves empty while it holds another. With etcd unreachable, ADD goes on from
free addresses of owned blocks and DEL releases locally: what etcd must learn waits in the
record and is written at the next operation that reaches it. Nothing is handed out twice:
an address comes only from a block this node owns, and a block is owned by one node.
STATUS: code 51 when etcd is unreachable and no owned block has room; code 50 when the
pools have no free block left and the node's blocks are full. GC releases reservations of
attachments not in `cni.dev/valid-attachments`. `cni ipam show` and `cni ipam reclaim
NODE` (after a grace period, once the node's lease expired) work on the same keys.
"""

from __future__ import annotations

from cni import _posix, skel, versions
from cni.errors import (
    AddressExhausted,
    CNIError,
    InvalidNetworkConfig,
    LimitedConnectivity,
    PluginNotAvailable,
    TryAgainLater,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TypeVar

    from cni._native import RangeSet
    from cni.ipam.etcd import Etcd, KeyValue
    from cni.ipam.store import DiskStore, Owner
    from cni.plugins._fields import Field

    T = TypeVar("T")

ABOUT = "cluster-ipam IPAM plugin (cni package)"
DEFAULT_PREFIX = "/cni-ipam"
DEFAULT_DATA_DIR = "/var/lib/cni/cluster-ipam"
NODE_TTL = 3600  # the node's liveness lease; refreshed when half of it is gone


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import ROUTE, ROUTE_SCHEMA, cidr_problem, integer, items, object_check, path_string, string

    def endpoints(value: object) -> str | None:
        if not isinstance(value, list) or not value:
            return "must be a non-empty list of URLs (http://host:port or https://host:port)"
        for n, url in enumerate(value):
            if not isinstance(url, str) or not url.startswith(("http://", "https://")) or ":" not in url[8:]:
                return f"entry {n} must be a URL with a port (http://host:port or https://host:port)"
        return None

    def text(value: object) -> str | None:
        return None if isinstance(value, str) and value else "must be a non-empty string"

    etcd = object_check(
        {"endpoints": endpoints, "caFile": text, "certFile": text, "keyFile": text}, required=("endpoints",)
    )
    from cni.plugins._fields import Field

    return (
        items("ipam.pools", "the address pools (CIDRs)", cidr_problem, {"type": "string", "format": "cidr"}),
        integer("ipam.blockSize", 8, 30, "the IPv4 block prefix length (default 26)"),
        integer("ipam.blockSizeV6", 64, 126, "the IPv6 block prefix length (default 122)"),
        Field("ipam.etcd", etcd, {"type": "object"}, "the etcd cluster: endpoints, caFile, certFile, keyFile"),
        string(
            "ipam.prefix",
            "the etcd key prefix (default /cni-ipam)",
            check=lambda v: None if v.startswith("/") else "must start with /",
        ),
        string(
            "ipam.node",
            "this node's name (default: the hostname)",
            check=lambda v: None if v and "/" not in v else "must be a name without /",
        ),
        path_string("ipam.dataDir", f"the node's local record (default {DEFAULT_DATA_DIR})"),
        items("ipam.routes", "routes to return", ROUTE, ROUTE_SCHEMA),
    )


class Config:
    __slots__ = ("block_sizes", "data_dir", "etcd", "network", "node", "pools", "prefix", "routes")

    def __init__(self, conf: dict[str, object]) -> None:
        from cni._native import network_of

        ipam = conf.get("ipam")
        assert isinstance(ipam, dict)
        pools = ipam.get("pools")
        if not isinstance(pools, list) or not pools:
            raise InvalidNetworkConfig("cluster-ipam: ipam.pools must list at least one CIDR")
        self.pools = [network_of(str(p)) for p in pools]
        v4, v6 = ipam.get("blockSize"), ipam.get("blockSizeV6")
        self.block_sizes = {4: v4 if isinstance(v4, int) else 26, 6: v6 if isinstance(v6, int) else 122}
        for pool in self.pools:
            family = 6 if ":" in pool else 4
            if int(pool.split("/")[1]) > self.block_sizes[family]:
                raise InvalidNetworkConfig(
                    f"cluster-ipam: pool {pool} is smaller than a block (/{self.block_sizes[family]})"
                )
        etcd = ipam.get("etcd")
        if not isinstance(etcd, dict):
            raise InvalidNetworkConfig("cluster-ipam: ipam.etcd.endpoints is required")
        self.etcd = etcd
        prefix = ipam.get("prefix")
        self.prefix = (prefix if isinstance(prefix, str) else DEFAULT_PREFIX).rstrip("/")
        node = ipam.get("node")
        self.node = node if isinstance(node, str) else _hostname()
        data_dir = ipam.get("dataDir")
        self.data_dir = data_dir if isinstance(data_dir, str) else DEFAULT_DATA_DIR
        self.network = str(conf["name"])
        routes = ipam.get("routes")
        self.routes = routes if isinstance(routes, list) else []

    def key(self, *parts: str) -> bytes:
        return "/".join((self.prefix, self.network, *parts)).encode()

    def client(self) -> Etcd:
        from cni.ipam.etcd import Etcd

        def opt(name: str) -> str | None:
            value = self.etcd.get(name)
            return value if isinstance(value, str) else None

        endpoints = self.etcd.get("endpoints")
        assert isinstance(endpoints, list)
        return Etcd(
            [str(e) for e in endpoints], ca_file=opt("caFile"), cert_file=opt("certFile"), key_file=opt("keyFile")
        )


def _hostname() -> str:
    import posix

    return posix.uname().nodename


class Record:
    """The node's blocks (with the claim each holds in etcd) and the writes etcd has yet
    to see, in one file replaced atomically."""

    def __init__(self, config: Config) -> None:
        self.directory = _posix.join(config.data_dir, "blocks")
        self.name = f"{config.network}.json"
        self.blocks: dict[str, str] = {}
        self.pending: list[list[str]] = []
        self.node_refreshed = 0.0
        #: Blocks other nodes held when this node last looked: where a claim need not try.
        self.taken: list[str] = []
        from cni.plugins._records import read_object

        data = read_object(_posix.join(self.directory, self.name))
        if isinstance(data, dict):
            blocks, pending = data.get("blocks"), data.get("pending")
            self.blocks = {str(k): str(v) for k, v in blocks.items()} if isinstance(blocks, dict) else {}
            entries = pending if isinstance(pending, list) else []
            self.pending = [list(map(str, p)) for p in entries if isinstance(p, list) and len(p) == 3]
            taken = data.get("taken")
            self.taken = [str(t) for t in taken] if isinstance(taken, list) else []
            refreshed = data.get("nodeRefreshed")
            self.node_refreshed = float(refreshed) if isinstance(refreshed, (int, float)) else 0.0

    def save(self) -> None:
        from cni._native import dumps

        _posix.makedirs(self.directory, 0o700)
        body = {
            "blocks": self.blocks,
            "pending": self.pending,
            "nodeRefreshed": self.node_refreshed,
            "taken": self.taken,
        }
        _posix.replace_file(self.directory, self.name, dumps(body).encode())

    def range_set(self, family: int) -> RangeSet | None:
        from cni._native import RangeSet

        mine = sorted(b for b in self.blocks if (":" in b) == (family == 6))
        return RangeSet([{"subnet": b} for b in mine]) if mine else None


class Cluster:
    """One operation's view: config, local record and store, and etcd when it answers."""

    def __init__(self, config: Config, store: DiskStore) -> None:
        self.config = config
        self.store = store
        self.record = Record(config)
        self.client = config.client()
        self.online = True

    def etcd(self, work: Callable[[Etcd], T]) -> tuple[bool, T | None]:
        """`(True, work(client))`, or `(False, None)` when etcd is unreachable (and from
        then on, for this operation: one timeout per operation at most)."""
        from cni.ipam.etcd import Unavailable

        if not self.online:
            return False, None
        try:
            return True, work(self.client)
        except Unavailable:
            self.online = False
            return False, None

    def sync(self) -> None:
        """Writes what etcd has yet to see, oldest first, while it answers."""
        while self.record.pending and self.online:
            op, ip, owner = self.record.pending[0]
            if not self.write(op, ip, owner):
                return
            self.record.pending.pop(0)
            self.record.save()
        self._refresh_node()

    def write(self, op: str, ip: str, owner: str) -> bool:
        """Writes one reservation (`put`) or release (`delete`) through to etcd; False when
        etcd is unreachable. A put is checked against the block's claim in the same
        transaction: a block taken from this node (reclaimed) is dropped here."""
        from cni.ipam.etcd import encode

        key = encode(self.config.key("ips", ip))
        if op == "delete":
            return self.etcd(lambda c: c.call("/v3/kv/deleterange", {"key": key}))[0]
        block = self._block_of(ip)
        claim = self.record.blocks.get(block) if block is not None else None
        if block is None or claim is None:
            return True  # the block is no longer this node's: nothing to write through
        compare = {
            "key": encode(self.config.key("blocks", block)),
            "target": "VALUE",
            "result": "EQUAL",
            "value": encode(claim.encode()),
        }
        success = [{"request_put": {"key": key, "value": encode(owner.encode())}}]
        reached, ours = self.etcd(lambda c: c.txn([compare], success))
        if reached and not ours:
            del self.record.blocks[block]
            self.record.save()
            raise TryAgainLater(f"cluster-ipam: block {block} was taken from node {self.config.node}")
        return reached

    def write_or_queue(self, op: str, ip: str, owner: str) -> None:
        if not self.write(op, ip, owner):
            self.record.pending.append([op, ip, owner])
            self.record.save()

    def _block_of(self, ip: str) -> str | None:
        from cni._native import cidr_has

        return next((b for b in self.record.blocks if (":" in b) == (":" in ip) and cidr_has(b, ip)), None)

    def _refresh_node(self) -> None:
        import time

        now = time.time()
        if not self.online or now - self.record.node_refreshed < NODE_TTL / 2:
            return

        def refresh(client: Etcd) -> None:
            from cni.ipam.etcd import encode

            lease = client.lease_grant(NODE_TTL)
            alive = {
                "key": encode(self.config.key("nodes", self.config.node)),
                "value": encode(b"alive"),
                "lease": str(lease),
            }
            seen = {"key": encode(self.config.key("seen", self.config.node)), "value": encode(str(int(now)).encode())}
            client.txn([], [{"request_put": alive}, {"request_put": seen}])

        if self.etcd(refresh)[0]:
            self.record.node_refreshed = now
            self.record.save()

    def claim_with(self, family: int, owner: Owner) -> tuple[str, int]:
        """A new block of `family` for this node and its first address, reserved here and
        written through in the claim's own transaction: one round trip when the candidate
        is free. A lost race reads the claimed blocks in the same transaction's failure
        branch; the record keeps them as the next claim's starting point."""
        taken, fresh = set(self.record.taken), False
        while True:
            candidate = self._candidate(family, taken)
            if candidate is None:
                if fresh:
                    pools = ", ".join(self.config.pools)
                    raise AddressExhausted(f"cluster-ipam: every IPv{family} block of {pools} is claimed")
                # Every candidate was in the record's hint: read what is claimed now.
                taken, fresh = self._ask(self.claimed, family), True
                self.record.taken = sorted(taken)
                continue
            won = self._try_claim(candidate, owner, family)
            if isinstance(won, tuple):
                return won
            taken, fresh = won, True
            self.record.taken = sorted(taken)

    def _candidate(self, family: int, taken: set[str]) -> str | None:
        size = self.config.block_sizes[family]
        for pool in (p for p in self.config.pools if (":" in p) == (family == 6)):
            for block in _blocks(pool, size, self.config.node):
                if block not in taken and block not in self.record.blocks:
                    return block
        return None

    def _ask(self, work: Callable[[Etcd], T], family: int) -> T:
        reached, answer = self.etcd(work)
        if not reached or answer is None:
            raise LimitedConnectivity(
                f"cluster-ipam: the node's IPv{family} blocks are full and etcd is unreachable to claim another"
            )
        return answer

    def _try_claim(self, block: str, owner: Owner, family: int) -> tuple[str, int] | set[str]:
        """Claims `block` with its first address in one transaction: that address and its
        prefix, or, lost to another node, the blocks claimed now."""
        from cni._native import RangeSet
        from cni.ipam.etcd import encode, prefix_end

        range_set = RangeSet([{"subnet": block}])
        found = range_set.next_free(self.store.pool)
        if found is None or not self.store.reserve(found[1], owner):
            return {block}  # nothing to hand out there: skip it
        index, ip = found
        start = self.config.key("blocks") + b"/"
        block_key = encode(self.config.key("blocks", block))
        claim = f'{{"node": "{self.config.node}"}}'
        compare = [{"key": block_key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}]
        address = {"key": encode(self.config.key("ips", ip)), "value": encode(_owner_text(owner).encode())}
        success = [{"request_put": {"key": block_key, "value": encode(claim.encode())}}, {"request_put": address}]
        failure = [
            {"request_range": {"key": encode(start), "range_end": encode(prefix_end(start))}},
            {"request_range": {"key": address["key"]}},
        ]
        try:
            won, read = self._ask(lambda c: c.txn_answer(compare, success, failure), family)
        except BaseException:
            self.store.release_ip(ip, owner)
            raise
        if not won and not self._committed_before(read, block, claim, ip, owner):
            self.store.release_ip(ip, owner)
            return {kv.key[len(start) :].decode() for kv in read if kv.key.startswith(start)} | {block}
        self.record.blocks[block] = claim
        self.record.save()
        return ip, range_set.range_info(index)[0]

    def _committed_before(self, read: list[KeyValue], block: str, claim: str, ip: str, owner: Owner) -> bool:
        """Whether a claim that failed its comparison is this very claim, committed by an
        earlier attempt whose answer was lost (a member killed after the commit, so the
        client asked the next one): the block then holds this node's claim and the address
        this owner. Taking that for a loss would orphan the block and the address."""
        found = {kv.key: kv.value for kv in read}
        return (
            found.get(self.config.key("blocks", block)) == claim.encode()
            and found.get(self.config.key("ips", ip)) == _owner_text(owner).encode()
        )

    def claimed(self, client: Etcd) -> set[str]:
        """The blocks some node owns."""
        from cni.ipam.etcd import prefix_end

        start = self.config.key("blocks") + b"/"
        return {kv.key[len(start) :].decode() for kv in client.range(start, prefix_end(start))}

    def give_back(self, block: str) -> None:
        from cni.ipam.etcd import encode

        key = encode(self.config.key("blocks", block))
        compare = {
            "key": key,
            "target": "VALUE",
            "result": "EQUAL",
            "value": encode(self.record.blocks[block].encode()),
        }
        if self.etcd(lambda c: c.txn([compare], [{"request_delete_range": {"key": key}}]))[0]:
            del self.record.blocks[block]
            self.record.save()


def _blocks(pool: str, size: int, start: str = "") -> Iterator[str]:
    """The blocks of `size` in `pool`, lazily (an IPv6 pool has many), beginning at a place
    `start` (a node's name) picks, so nodes claiming at once seldom race for one block."""
    import ipaddress
    import zlib

    network = ipaddress.ip_network(pool)
    count = 1 << (size - network.prefixlen)
    step = 1 << (network.max_prefixlen - size)
    first = zlib.crc32(start.encode()) % count if start else 0
    for n in range(count):
        address = ipaddress.ip_address(int(network.network_address) + ((first + n) % count) * step)
        yield f"{address}/{size}"


def _owner_text(owner: Owner) -> str:
    return f"{owner.container_id}/{owner.ifname}"


def _families(config: Config) -> list[int]:
    return sorted({6 if ":" in p else 4 for p in config.pools})


def _store(config: Config) -> DiskStore:
    from cni.ipam.store import DiskStore

    return DiskStore(config.network, _posix.join(config.data_dir, "reservations"))


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    from cni.ipam.store import Owner

    config = Config(args.conf)
    owner = Owner(args.container_id, args.ifname)
    with _store(config) as store:
        cluster = Cluster(config, store)
        cluster.sync()
        if store.addresses_of(owner):
            raise InvalidNetworkConfig(f"cluster-ipam: {args.container_id}/{args.ifname} has addresses already")
        taken: list[str] = []
        written: set[str] = set()
        ips: list[dict[str, object]] = []
        try:
            for family in _families(config):
                ip, prefix, known = _take(cluster, family, owner)
                taken.append(ip)
                if known:
                    written.add(ip)
                ips.append({"address": f"{ip}/{prefix}"})
            store.record(owner, taken)
        except BaseException:
            for ip in taken:
                store.release_ip(ip, owner)
            raise
        for ip in taken:
            if ip not in written:
                cluster.write_or_queue("put", ip, _owner_text(owner))
        cluster.client.close()
    result: dict[str, object] = {"cniVersion": versions.CURRENT, "ips": ips}
    if config.routes:
        result["routes"] = config.routes
    return result


def _take(cluster: Cluster, family: int, owner: Owner) -> tuple[str, int, bool]:
    """A free address of `family` from this node's blocks, claiming a block when they are
    full; and whether etcd knows of it already (a claim writes its first address)."""
    for _ in range(64):
        range_set = cluster.record.range_set(family)
        found = range_set.next_free(cluster.store.pool) if range_set is not None else None
        if range_set is None or found is None:
            ip, prefix = cluster.claim_with(family, owner)
            return ip, prefix, True
        index, ip = found
        if cluster.store.reserve(ip, owner):
            return ip, range_set.range_info(index)[0], False
    raise CNIError(f"cluster-ipam: no address could be reserved in IPv{family} blocks")


def cmd_del(args: skel.CmdArgs) -> None:
    from cni.ipam.store import Owner

    config = Config(args.conf)
    owner = Owner(args.container_id, args.ifname)
    with _store(config) as store:
        cluster = Cluster(config, store)
        cluster.sync()
        for ip in store.release(owner):
            cluster.write_or_queue("delete", ip, "")
        _give_back_empty(cluster)
        cluster.client.close()


def _give_back_empty(cluster: Cluster) -> None:
    """A block left empty goes back while the node holds another of its family."""
    from cni._native import cidr_has

    used = set(cluster.store.pool.addresses())
    for family in (4, 6):
        mine = [b for b in cluster.record.blocks if (":" in b) == (family == 6)]
        for block in sorted(mine)[1:]:
            busy = any(cidr_has(block, ip) for ip in used if (":" in ip) == (family == 6))
            waiting = any((":" in p[1]) == (family == 6) and cidr_has(block, p[1]) for p in cluster.record.pending)
            if not busy and not waiting:
                cluster.give_back(block)


def cmd_check(args: skel.CmdArgs) -> None:
    from cni.ipam.store import Owner

    config = Config(args.conf)
    owner = Owner(args.container_id, args.ifname)
    with _store(config) as store:
        held = [ip for ip in store.addresses_of(owner) if store.holds(owner, ip)]
    if not held:
        raise CNIError(f"cluster-ipam: no address held by {args.container_id}/{args.ifname}")


def cmd_gc(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    valid = {(str(a.get("containerID", "")), str(a.get("ifname", ""))) for a in args.valid_attachments()}
    with _store(config) as store:
        cluster = Cluster(config, store)
        cluster.sync()
        reservations, strays = store.scan()
        for ip, owner in reservations.items():
            if owner is not None and (owner.container_id, owner.ifname) in valid:
                continue
            store.release_ip(ip, None)
            cluster.write_or_queue("delete", ip, "")
        store.remove_strays(strays)
        store.rebuild()
        _give_back_empty(cluster)
        cluster.client.close()


def cmd_status(args: skel.CmdArgs) -> None:
    config = Config(args.conf)
    with _store(config) as store:
        cluster = Cluster(config, store)
        cluster.sync()
        for family in _families(config):
            range_set = cluster.record.range_set(family)
            room = range_set is not None and range_set.free(store.pool) > 0
            if room:
                continue
            if not cluster.online:
                raise LimitedConnectivity(
                    f"cluster-ipam: etcd is unreachable and this node's IPv{family} blocks are full"
                )
            if not _free_block_exists(cluster, family):
                raise PluginNotAvailable(f"cluster-ipam: every IPv{family} block of the pools is claimed")
        cluster.client.close()


def _free_block_exists(cluster: Cluster, family: int) -> bool:
    _, taken = cluster.etcd(cluster.claimed)
    size = cluster.config.block_sizes[family]
    pools = [p for p in cluster.config.pools if (":" in p) == (family == 6)]
    return any(block not in (taken or set()) for pool in pools for block in _blocks(pool, size))


PLUGIN = skel.Plugin(
    "cluster-ipam",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    status=cmd_status,
    about=ABOUT,
    fields=fields,
)


# --- for `cni ipam show` and `cni ipam reclaim` ---------------------------------------------------


def show(client: Etcd, prefix: str, network: str) -> dict[str, object]:
    """The network's blocks: owner and addresses in use; and the nodes alive."""
    from cni._native import cidr_has, loads
    from cni.ipam.etcd import prefix_end

    base = f"{prefix.rstrip('/')}/{network}/".encode()
    blocks: dict[str, dict[str, object]] = {}
    ips: list[str] = []
    alive: list[str] = []
    for kv in client.range(base, prefix_end(base)):
        kind, _, name = kv.key[len(base) :].decode().partition("/")
        if kind == "blocks":
            owner = loads(kv.value)
            blocks[name] = {"node": owner.get("node") if isinstance(owner, dict) else None, "used": 0}
        elif kind == "ips":
            ips.append(name)
        elif kind == "nodes":
            alive.append(name)
    for ip in ips:
        for block, info in blocks.items():
            if (":" in block) == (":" in ip) and cidr_has(block, ip):
                info["used"] = int(str(info["used"])) + 1
                break
    return {"blocks": blocks, "alive": sorted(alive)}


def reclaim(client: Etcd, prefix: str, network: str, node: str, grace: float) -> list[str]:
    """Frees the blocks (and their addresses) of `node`, a node that is gone: only once its
    liveness lease has expired and `grace` seconds have passed since it was last seen."""
    import time

    from cni._native import cidr_has
    from cni.ipam.etcd import encode, prefix_end

    base = f"{prefix.rstrip('/')}/{network}"
    if client.get(f"{base}/nodes/{node}".encode()) is not None:
        raise CNIError(f"cluster-ipam: node {node} is alive (its lease has not expired): not reclaimed")
    seen = client.get(f"{base}/seen/{node}".encode())
    if seen is not None and time.time() - float(seen.value.decode() or 0) < grace:
        raise CNIError(f"cluster-ipam: node {node} was seen less than {grace:.0f} s ago: not reclaimed")
    state = show(client, prefix, network)
    blocks = state["blocks"]
    assert isinstance(blocks, dict)
    mine = [b for b, info in blocks.items() if isinstance(info, dict) and info.get("node") == node]
    start = f"{base}/ips/".encode()
    in_use = [kv.key[len(start) :].decode() for kv in client.range(start, prefix_end(start))]
    for block in mine:
        claim = f'{{"node": "{node}"}}'.encode()
        key = encode(f"{base}/blocks/{block}".encode())
        compare = {"key": key, "target": "VALUE", "result": "EQUAL", "value": encode(claim)}
        removals = [{"request_delete_range": {"key": key}}] + [
            {"request_delete_range": {"key": encode(f"{base}/ips/{ip}".encode())}}
            for ip in in_use
            if (":" in ip) == (":" in block) and cidr_has(block, ip)
        ]
        client.txn([compare], removals)
    client.call("/v3/kv/deleterange", {"key": encode(f"{base}/seen/{node}".encode())})
    return sorted(mine)
