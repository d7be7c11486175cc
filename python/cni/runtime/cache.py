# SPDX-License-Identifier: Apache-2.0
"""The result cache, in libcni's layout, so runtimes can take over each other's nodes.

`<cache_dir>/results/<network>-<containerID>-<ifname>` holds a JSON object with
`kind: cniCacheV1`, the attachment's identity, the conflist bytes (base64, as Go encodes
`[]byte`), the CNI_ARGS pairs, the capability args and the final ADD result. Files are
0600 in a 0700 directory.

What libcni does not guard against, and we do:

- Identifiers may be of any length (the spec bounds none). When libcni's name would not fit
  in a file name (255 bytes), the entry is stored as `long-<sha256 of the identity>`; the
  identity inside the file is what counts, and libcni's GC, which reads every file of the
  directory, still finds it.
- Writes are atomic and thread-safe: a temporary file with a random name (`.tmp-<hex>`,
  never derived from the identifiers), fsync, rename. GC removes temporary files a killed
  writer left (it holds the lock exclusively, so none is being written).
- Every operation goes through a descriptor of `results`, and entries are opened with
  `O_NOFOLLOW`: a symlink planted under an entry's name is never read or written through
  (`results` itself may be a symlink to a directory an administrator chose). If `results`
  is not a directory, a write replaces it.
- A corrupt entry (not JSON, a directory, a symlink, fields of the wrong type) never blocks
  DEL or GC: unusable fields read as absent, an unusable file as no entry, and deleting an
  entry removes whatever is there.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from typing import Any

from cni._native import dumps, loads
from cni._posix import read_all, write_all
from cni.errors import CNIError, InvalidEnvironmentVariables
from cni.netconf import ifname_problem, is_valid_id

CACHE_KIND = "cniCacheV1"
DEFAULT_CACHE_DIR = "/var/lib/cni"
#: Linux's limit on one file name, in bytes.
NAME_MAX = 255
LONG_PREFIX = "long-"
TMP_PREFIX = ".tmp-"

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass
class CachedAttachment:
    """One cached attachment: what the runtime needs to CHECK, DEL or GC it later."""

    network_name: str
    container_id: str
    ifname: str
    netns: str = ""
    config: bytes = b""
    cni_args: list[tuple[str, str]] = field(default_factory=list)
    capability_args: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    #: The entry's file name in `results` (set when read from disk).
    file_name: str = ""


def check_attachment_ids(network: str, container_id: str, ifname: str) -> None:
    """Refuses identifiers that would make the cache path leave the cache directory.

    libcni checks these only on ADD; we check them for every verb, so a DEL with a
    container ID such as `../../x` cannot unlink outside the cache.
    """
    if not is_valid_id(network):
        raise InvalidEnvironmentVariables(f"invalid network name {network!r}")
    if not is_valid_id(container_id):
        raise InvalidEnvironmentVariables(
            f"invalid container ID {container_id!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
        )
    problem = ifname_problem(ifname)
    if problem:
        raise InvalidEnvironmentVariables(f"invalid interface name {ifname!r}: {problem}")


def entry_name(network: str, container_id: str, ifname: str) -> str:
    """The file name of an attachment's entry: libcni's when it fits, else a digest."""
    check_attachment_ids(network, container_id, ifname)
    name = f"{network}-{container_id}-{ifname}"
    if len(name.encode()) <= NAME_MAX:
        return name
    # libcni's layout always has two dashes; `long-<hex>` has one, so the two cannot meet.
    digest = hashlib.sha256(f"{network}\0{container_id}\0{ifname}".encode()).hexdigest()
    return LONG_PREFIX + digest


class ResultCache:
    """Reads and writes cached results under `cache_dir` (default `/var/lib/cni`)."""

    def __init__(self, cache_dir: str = DEFAULT_CACHE_DIR) -> None:
        self.cache_dir = cache_dir
        self.results_dir = os.path.join(cache_dir, "results")

    def path(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self.results_dir, entry_name(network, container_id, ifname))

    # --- the results directory, always through a descriptor ----------------------------------

    def _open_results(self) -> int | None:
        """A descriptor of `results`, or None when there is no usable directory."""
        try:
            return os.open(self.results_dir, _O_DIR)
        except OSError:
            return None

    def _make_results(self) -> int:
        """A descriptor of `results`, made (or remade, when something else is there)."""
        os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
        for _ in range(3):
            try:
                os.mkdir(self.results_dir, 0o700)
            except FileExistsError:
                pass
            try:
                return os.open(self.results_dir, _O_DIR)
            except OSError as err:
                if err.errno not in (errno.ENOTDIR, errno.ENOENT, errno.ELOOP):
                    raise
            # A file or a dangling symlink took the directory's name: it is ours to replace.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.results_dir)
        raise OSError(errno.ENOTDIR, f"cannot make the cache directory {self.results_dir}")

    # --- entries -------------------------------------------------------------------------------

    def write(self, entry: CachedAttachment) -> None:
        """Stores `entry` atomically: readers see the old file or the new one, never part."""
        name = entry_name(entry.network_name, entry.container_id, entry.ifname)
        doc: dict[str, Any] = {
            "kind": CACHE_KIND,
            "containerId": entry.container_id,
            "config": base64.b64encode(entry.config).decode(),
            "ifName": entry.ifname,
            "networkName": entry.network_name,
            "netns": entry.netns,
        }
        if entry.cni_args:
            doc["cniArgs"] = [list(pair) for pair in entry.cni_args]
        if entry.capability_args:
            doc["capabilityArgs"] = entry.capability_args
        if entry.result is not None:
            doc["result"] = entry.result
        data = dumps(doc).encode()
        dir_fd = self._make_results()
        try:
            tmp = TMP_PREFIX + secrets.token_hex(8)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
            try:
                try:
                    write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self._remove(dir_fd, name)  # a directory planted under the name blocks rename
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self, network: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The cached attachment, or None when there is none or it cannot be parsed."""
        name = entry_name(network, container_id, ifname)
        dir_fd = self._open_results()
        if dir_fd is None:
            return None
        try:
            return _parse(_read_entry(dir_fd, name), name)
        finally:
            os.close(dir_fd)

    def delete(self, network: str, container_id: str, ifname: str) -> None:
        """Removes the cached attachment, whatever is under its name; a missing one is fine."""
        self.delete_file(entry_name(network, container_id, ifname))

    def delete_file(self, name: str) -> None:
        """Removes the entry file `name` of `results` (a name read from the directory)."""
        dir_fd = self._open_results()
        if dir_fd is None:
            return
        try:
            self._remove(dir_fd, name)
        finally:
            os.close(dir_fd)

    @staticmethod
    def _remove(dir_fd: int, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            # rmtree with a dir_fd never follows symlinks out of the tree.
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)

    def scan(self, network: str) -> tuple[list[CachedAttachment], list[str]]:
        """GC's view of `network`: its readable attachments, and the files that are no use
        to anyone (unparseable entries that may be this network's, stale temporary files).

        Call with the lock held exclusively, or temporary files of writers may be listed.
        """
        dir_fd = self._open_results()
        if dir_fd is None:
            return [], []
        try:
            names = sorted(os.listdir(dir_fd))
            found: list[CachedAttachment] = []
            junk: list[str] = []
            for name in names:
                if name.startswith(TMP_PREFIX) or ".tmp" in name:
                    junk.append(name)  # ours, or an older writer's `<entry>.tmp<pid>`
                    continue
                ours_by_name = name.startswith((f"{network}-", LONG_PREFIX))
                entry = _parse(_read_entry(dir_fd, name), name)
                if entry is None:
                    if ours_by_name:
                        junk.append(name)
                elif entry.network_name == network:
                    found.append(entry)
            return found, junk
        finally:
            os.close(dir_fd)

    def attachments(self, network: str) -> list[CachedAttachment]:
        """Every readable cached attachment of `network`."""
        return self.scan(network)[0]

    def stamp(self, name: str) -> tuple[int, int] | None:
        """The (inode, change time) of entry `name`: GC's proof an entry was not rewritten."""
        dir_fd = self._open_results()
        if dir_fd is None:
            return None
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(dir_fd)
        return st.st_ino, st.st_ctime_ns


def _read_entry(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a directory, a FIFO planted to hang us, a device
        return read_all(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _str_field(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _parse(data: bytes | None, name: str) -> CachedAttachment | None:
    """An entry from its bytes; fields of the wrong type read as absent, as if libcni had
    dropped them. None when not even the identity can be read."""
    if data is None:
        return None
    try:
        doc = loads(data)
    except CNIError:
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("kind") != CACHE_KIND:
        # A legacy cache file holds the bare result; its identity is the file name.
        if isinstance(doc.get("cniVersion"), str):
            return CachedAttachment(network_name="", container_id="", ifname="", result=doc, file_name=name)
        return None
    entry = CachedAttachment(
        network_name=_str_field(doc, "networkName"),
        container_id=_str_field(doc, "containerId"),
        ifname=_str_field(doc, "ifName"),
        netns=_str_field(doc, "netns"),
        file_name=name,
    )
    try:
        check_attachment_ids(entry.network_name, entry.container_id, entry.ifname)
    except CNIError:
        return None  # a planted `../../x` names nothing we may act on
    if entry_name(entry.network_name, entry.container_id, entry.ifname) != name:
        return None  # an entry copied under another attachment's name
    config = doc.get("config")
    if isinstance(config, str):
        try:
            entry.config = base64.b64decode(config, validate=True)
        except ValueError:
            entry.config = b""
    args = doc.get("cniArgs")
    if isinstance(args, list):
        entry.cni_args = [
            (p[0], p[1]) for p in args if isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p)
        ]
    caps = doc.get("capabilityArgs")
    if isinstance(caps, dict):
        entry.capability_args = caps
    result = doc.get("result")
    if isinstance(result, dict):
        entry.result = result
    return entry
