# SPDX-License-Identifier: Apache-2.0
"""host-local's on-disk store, compatible with the reference plugin, plus an index.

The reference layout is kept exactly, so a node can switch plugins either way:
`<dataDir>/<network>/<ip>` files holding `containerID\\r\\nifname` (mode 0600),
`last_reserved_ip.<set>` and a `lock` file that both implementations `flock`.

The reference reads every reservation on every ADD and DEL. We keep an index inside the
network's directory, in `<dataDir>/<network>/.cni-index/`, so removing the network's store
removes its index too: one small file per attachment naming its addresses, and a `state`
file holding a stamp of the network directory (inode, modification and change times) taken
after our last change and a checksum, followed by the used addresses as a compact pool. If
the stamp no longer matches, someone else changed the directory (or we were killed between
a change and the stamp) and the index is rebuilt from the files; otherwise ADD and DEL touch
only the files they need. The reference walks the network directory recursively when it
releases or looks up by ID, matching file contents against `containerID\r\nifname`; our
index files hold addresses and pool bytes, which never match, so it skips them.

The index is a cache of the reservation files: when it cannot be written (a full disk),
the operation goes on from what it read, and the state file is removed so the next one
rebuilds. So a DEL on a full disk still releases (unlinks need no space), and a failed ADD
leaves only what it could not write: nothing.

Reservations appear whole and a crash leaves no debris: the content is written to an
unnamed file (`O_TMPFILE`) and hard-linked to the address's name (which fails if the name
exists, like O_EXCL); a process killed before the link leaves nothing behind, and one
killed after it leaves the content in the page cache. Nothing is synced, as the reference
syncs nothing: a reservation outlives its container only until the machine goes down with
both, and an fsync was 0.6-2.4 ms of an ADD here (the journal's commit, a fifth of the
operation). After a power loss a name may come back without its content, an ownerless
reservation that GC reclaims, or not at all, which frees an address whose container is gone.
Where `O_TMPFILE` is unsupported a named temporary file stands in, and GC removes any such
file a crash left. `last_reserved_ip.<set>` is a hint for round-robin order, rewritten in
place (the reference truncates it first; either way an unreadable or torn one only changes
where the scan starts). Attachment files are written in place too: the stamp, written
last, is what makes them count. So is the state file, under the lock: a write a crash cut
short fails its checksum, and the next operation rebuilds.
"""

from __future__ import annotations

import errno
import fcntl
import posix
import zlib

from cni import _posix
from cni._native import AddressPool, parse_ip_text
from cni.errors import IOFailure

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
INDEX_DIR = ".cni-index"
#: Where an earlier version kept the index: `<dataDir>/.cni-index/<network>`.
OLD_INDEX_ROOT = ".cni-index"
LAST_RESERVED = "last_reserved_ip."
LOCK = "lock"
STATE = "state"
TMP_PREFIX = ".cni-tmp-"
LINE_BREAK = "\r\n"
# First line of an attachment file. The reference, looking up by ID, walks the network's
# directory and takes any file whose whole content is `<id>` or `<id>\r\n<ifname>`; a
# container ID may look like an address, never like this line.
_HEADER = "# cni index: addresses of one attachment"
# File names are at most 255 bytes; keys longer than this become digests (as they always have:
# an index written by an earlier version names its files so).
_KEY_MAX = 200

_O_READ = posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW
_O_WRITE = posix.O_WRONLY | posix.O_CREAT | posix.O_CLOEXEC | posix.O_NOFOLLOW


def _fail(what: str, path: str, err: OSError) -> IOFailure:
    return IOFailure(f"host-local: cannot {what} {path}: {err.strerror or err}")


class Owner:
    """Who holds a reservation: container ID and interface name ("" in legacy files)."""

    __slots__ = ("container_id", "ifname")

    def __init__(self, container_id: str, ifname: str) -> None:
        self.container_id = container_id
        self.ifname = ifname

    @classmethod
    def parse(cls, data: bytes) -> Owner | None:
        """The owner written in a reservation file, or None for an empty or unreadable one."""
        try:
            text = data.decode().strip()
        except UnicodeDecodeError:
            return None
        if not text:
            return None
        cid, _, ifname = text.partition(LINE_BREAK)
        return cls(cid.strip(), ifname.strip())

    def key(self) -> str:
        """A file name for the owner's index entry. ':' cannot appear in a container ID, nor
        '/' in either part; IDs of any length are allowed, so a name too long for a file
        becomes a digest (with ':' in it, so it cannot be a short owner's name)."""
        key = f"{self.container_id}:{self.ifname}"
        if len(key.encode()) <= _KEY_MAX:
            return key
        import _sha256  # type: ignore[import-not-found]  # built in; hashlib would load OpenSSL

        digest: str = _sha256.sha256(key.encode()).hexdigest()
        return "sha256:" + digest

    def content(self) -> bytes:
        return f"{self.container_id}{LINE_BREAK}{self.ifname}".encode()


class DiskStore:
    """The store of one network; use as a context manager (it holds the lock)."""

    def __init__(self, network: str, data_dir: str | None = None) -> None:
        data_dir = data_dir or DEFAULT_DATA_DIR
        self.data_dir = data_dir
        self.network = network
        self.dir = _posix.join(data_dir, network)
        self.index_dir = _posix.join(self.dir, INDEX_DIR)
        self._lock_fd = -1
        self.pool = AddressPool()
        self._dirty = False
        # Set by a rebuild: every owner's addresses, as read from the reservation files.
        self._owners: dict[str, list[str]] | None = None
        # The index on disk is behind what this operation did (a write failed).
        self._index_broken = False

    # --- locking and the index's freshness ---------------------------------------------------

    def __enter__(self) -> DiskStore:
        lock_path = _posix.join(self.dir, LOCK)
        flags = posix.O_RDONLY | posix.O_CREAT | posix.O_CLOEXEC | posix.O_NOFOLLOW
        try:
            try:
                self._lock_fd = posix.open(lock_path, flags, 0o600)
            except FileNotFoundError:
                # The network's first operation (the directories exist from then on).
                try:
                    _posix.makedirs(self.dir, 0o755)
                except OSError as err:
                    raise _fail("create", self.dir, err) from None
                self._lock_fd = posix.open(lock_path, flags, 0o600)
        except OSError as err:
            raise _fail("open lock", lock_path, err) from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        if not self._index_fresh():
            # A fresh index was written into existing directories; a stale one is rebuilt
            # into directories that may not exist yet.
            try:
                _posix.makedirs(_posix.join(self.index_dir, "attachments"), 0o700)
            except OSError:
                self._index_broken = True
            self.rebuild()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._dirty and not self._index_broken:
                try:
                    self._write_state()
                except IOFailure:
                    self._index_broken = True
            if self._index_broken:
                self._forget_index()
        finally:
            posix.close(self._lock_fd)
            self._lock_fd = -1

    def _forget_index(self) -> None:
        """Removes the state file, so the next operation rebuilds from the reservations."""
        try:
            posix.unlink(_posix.join(self.index_dir, STATE))
        except FileNotFoundError:
            pass
        except OSError as err:
            raise _fail("remove", _posix.join(self.index_dir, STATE), err) from None

    def _stamp(self) -> bytes:
        st = posix.stat(self.dir)
        return f"{st.st_ino} {st.st_mtime_ns} {st.st_ctime_ns}".encode()

    def _index_fresh(self) -> bool:
        state = self._read(_posix.join(self.index_dir, STATE))
        if state is None:
            return False
        header, _, pool_bytes = state.partition(b"\n")
        if header != self._state_header(pool_bytes):
            return False
        pool = AddressPool.from_bytes(pool_bytes)
        if pool is None:
            return False
        self.pool = pool
        return True

    def _state_header(self, pool_bytes: bytes) -> bytes:
        """The stamp and the checksum of the pool: the state file is rewritten in place (a
        rename costs more than the rest of the write), so a write a crash cut short, or
        one longer file's tail behind a shorter one, shows as a checksum that does not
        match, and the index is rebuilt. An earlier version's header (no checksum) never
        matches either."""
        return self._stamp() + b" %08x" % zlib.crc32(pool_bytes)

    def _write_state(self) -> None:
        path = _posix.join(self.index_dir, STATE)
        pool_bytes = self.pool.to_bytes()
        self._overwrite(path, self._state_header(pool_bytes) + b"\n" + pool_bytes)

    # --- small file helpers ---------------------------------------------------------------------

    @staticmethod
    def _read(path: str) -> bytes | None:
        try:
            fd = posix.open(path, _O_READ)
        except OSError:
            return None
        try:
            return _posix.read_all(fd)
        except OSError:
            return None
        finally:
            posix.close(fd)

    def _create(self, directory: str, name: str, data: bytes) -> None:
        """Makes `directory/name` appear with `data` whole; FileExistsError if it exists."""
        dir_fd = posix.open(directory, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
        try:
            try:
                fd = posix.open(".", posix.O_WRONLY | posix.O_TMPFILE | posix.O_CLOEXEC, 0o600, dir_fd=dir_fd)
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
                self._create_via_named_temp(directory, _posix.join(directory, name), data)
                return
            try:
                _posix.write_all(fd, data)
                # linkat(AT_SYMLINK_FOLLOW) through /proc reaches the unnamed inode without
                # privilege; a destination dir fd makes posix.link use linkat rather than link.
                posix.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd)
            finally:
                posix.close(fd)
        finally:
            posix.close(dir_fd)

    def _create_via_named_temp(self, directory: str, path: str, data: bytes) -> None:
        tmp = _posix.join(directory, f"{TMP_PREFIX}{posix.getpid()}")
        fd = posix.open(tmp, _O_WRITE | posix.O_TRUNC, 0o600)
        try:
            try:
                _posix.write_all(fd, data)
            finally:
                posix.close(fd)
            posix.link(tmp, path)
        finally:
            try:
                posix.unlink(tmp)
            except OSError:
                pass

    def _write_attachment(self, path: str, ips: list[str]) -> None:
        self._overwrite(path, "\n".join([_HEADER, *ips]).encode())

    @staticmethod
    def _overwrite(path: str, data: bytes) -> None:
        """Rewrites a small file in place, then cuts it to `data`'s length: not O_TRUNC,
        which on ext4 starts the old content's write-out first (auto_da_alloc; 300 µs a
        file here, against 10). What a crash leaves mid-way the file's reader tolerates."""
        try:
            fd = posix.open(path, _O_WRITE, 0o600)
            try:
                _posix.write_all(fd, data)
                posix.ftruncate(fd, len(data))
            finally:
                posix.close(fd)
        except OSError as err:
            raise _fail("write", path, err) from None

    def _attachment_path(self, owner: Owner) -> str:
        return _posix.join(self.index_dir, "attachments", owner.key())

    # --- rebuilding from the files (after another implementation changed them) ---------------

    def scan(self) -> tuple[dict[str, Owner | None], list[str]]:
        """Every reservation file (address -> owner, None when ownerless) and stray temp files."""
        reservations: dict[str, Owner | None] = {}
        strays: list[str] = []
        try:
            names = posix.listdir(self.dir)
        except OSError as err:
            raise _fail("list", self.dir, err) from None
        for name in names:
            if name.startswith(TMP_PREFIX):
                strays.append(name)
                continue
            if name == LOCK or name.startswith(LAST_RESERVED):
                continue
            try:
                canonical, _ = parse_ip_text(name)
            except ValueError:
                continue
            if canonical != name:
                continue
            data = self._read(_posix.join(self.dir, name))
            reservations[name] = Owner.parse(data) if data is not None else None
        return reservations, strays

    def rebuild(self) -> dict[str, Owner | None]:
        """Rebuilds the index from the reservation files; returns what it found.

        The rebuilt index serves this operation from memory; writing it out is best effort.
        """
        reservations, _ = self.scan()
        by_owner: dict[str, list[str]] = {}
        pool = AddressPool()
        for ip, owner in reservations.items():
            pool.add(ip)
            if owner is not None:
                by_owner.setdefault(owner.key(), []).append(ip)
        self.pool = pool
        self._owners = by_owner
        self._dirty = True
        self._remove_old_index()
        if self._index_broken:
            return reservations
        attachments_dir = _posix.join(self.index_dir, "attachments")
        try:
            for name in posix.listdir(attachments_dir):
                posix.unlink(_posix.join(attachments_dir, name))
            for key, ips in by_owner.items():
                self._write_attachment(_posix.join(attachments_dir, key), sorted(ips))
        except (OSError, IOFailure):
            self._index_broken = True
        return reservations

    def _remove_old_index(self) -> None:
        """An earlier version's index of this network, outside its directory: it would stay
        when the network's store is removed."""
        old = _posix.join(self.data_dir, OLD_INDEX_ROOT, self.network)
        if not _posix.is_dir(old):
            return
        for sub in ("attachments", ""):
            directory = _posix.join(old, sub) if sub else old
            try:
                for name in posix.listdir(directory):
                    path = _posix.join(directory, name)
                    if not _posix.is_dir(path):
                        posix.unlink(path)
                posix.rmdir(directory)
            except OSError:
                return
        try:
            posix.rmdir(_posix.join(self.data_dir, OLD_INDEX_ROOT))  # only when now empty
        except OSError:
            pass

    # --- the operations host-local needs -------------------------------------------------------

    def addresses_of(self, owner: Owner) -> list[str]:
        """Addresses the index holds for `owner` (and, for compatibility, for its ID alone)."""
        found = []
        for candidate in (owner, Owner(owner.container_id, "")):
            if self._owners is not None:
                found.extend(self._owners.get(candidate.key(), []))
            else:
                data = self._read(self._attachment_path(candidate))
                if data:
                    found.extend(line.strip() for line in data.decode().splitlines() if line and line[0] != "#")
            if not owner.ifname:
                break
        return found

    def reserve(self, ip: str, owner: Owner) -> bool:
        """Creates the reservation file for `ip`; False if the address is taken."""
        try:
            self._create(self.dir, ip, owner.content())
        except FileExistsError:
            # Taken, by a file the index did not know about, or by anything planted there.
            self.pool.add(ip)
            self._dirty = True
            return False
        except OSError as err:
            raise _fail("reserve", _posix.join(self.dir, ip), err) from None
        self.pool.add(ip)
        self._dirty = True
        return True

    def record(self, owner: Owner, ips: list[str]) -> None:
        """Notes in the index that `owner` holds `ips` (best effort: see the module doc)."""
        if not ips:
            return
        self._dirty = True
        if self._owners is not None:
            self._owners[owner.key()] = list(ips)
        if self._index_broken:
            return
        try:
            self._write_attachment(self._attachment_path(owner), ips)
        except IOFailure:
            self._index_broken = True

    def release_ip(self, ip: str, owner: Owner | None) -> bool:
        """Removes the reservation of `ip` if `owner` holds it (any owner when None)."""
        path = _posix.join(self.dir, ip)
        if owner is not None:
            data = self._read(path)
            held = Owner.parse(data) if data is not None else None
            if held is None or held.container_id != owner.container_id or held.ifname not in ("", owner.ifname):
                return False
        try:
            posix.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise _fail("remove", path, err) from None
        self.pool.remove(ip)
        self._dirty = True
        return True

    def release(self, owner: Owner) -> list[str]:
        """Releases everything `owner` holds; returns the addresses released."""
        released = [ip for ip in self.addresses_of(owner) if self.release_ip(ip, owner)]
        for candidate in (owner, Owner(owner.container_id, "")):
            if self._owners is not None:
                self._owners.pop(candidate.key(), None)
            try:
                posix.unlink(self._attachment_path(candidate))
                self._dirty = True
            except FileNotFoundError:
                pass
            except OSError:
                self._index_broken = True
        return released

    def holds(self, owner: Owner, ip: str) -> bool:
        """Whether the reservation file of `ip` names `owner`."""
        data = self._read(_posix.join(self.dir, ip))
        held = Owner.parse(data) if data is not None else None
        return held is not None and held.container_id == owner.container_id and held.ifname in ("", owner.ifname)

    def last_reserved(self, set_index: int) -> str | None:
        data = self._read(_posix.join(self.dir, f"{LAST_RESERVED}{set_index}"))
        return data.decode(errors="replace").strip() if data else None

    def set_last_reserved(self, set_index: int, ip: str) -> None:
        self._overwrite(_posix.join(self.dir, f"{LAST_RESERVED}{set_index}"), ip.encode())
        self._dirty = True

    def remove_strays(self, strays: list[str]) -> None:
        """Deletes temporary files a crash left behind."""
        for name in strays:
            try:
                posix.unlink(_posix.join(self.dir, name))
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise _fail("remove", _posix.join(self.dir, name), err) from None
        if strays:
            self._dirty = True
