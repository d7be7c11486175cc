# SPDX-License-Identifier: Apache-2.0
"""The result cache, in libcni's layout, so runtimes can take over each other's nodes.

`<cache_dir>/results/<network>-<containerID>-<ifname>` holds a JSON object with
`kind: cniCacheV1`, the attachment's identity, the conflist bytes (base64, as Go encodes
`[]byte`), the CNI_ARGS pairs, the capability args and the final ADD result. Writes are
atomic (temporary file, fsync, rename), files are 0600 in a 0700 directory, and a
corrupt file never blocks DEL: it reads as absent.
"""

from __future__ import annotations

import base64
import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from cni._native import dumps, loads
from cni.conf import ifname_problem, is_valid_id
from cni.errors import CNIError, InvalidEnvironmentVariables

CACHE_KIND = "cniCacheV1"
DEFAULT_CACHE_DIR = "/var/lib/cni"


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


class ResultCache:
    """Reads and writes cached results under `cache_dir` (default `/var/lib/cni`)."""

    def __init__(self, cache_dir: str = DEFAULT_CACHE_DIR) -> None:
        self.cache_dir = cache_dir
        self.results_dir = os.path.join(cache_dir, "results")

    def path(self, network: str, container_id: str, ifname: str) -> str:
        check_attachment_ids(network, container_id, ifname)
        return os.path.join(self.results_dir, f"{network}-{container_id}-{ifname}")

    def write(self, entry: CachedAttachment) -> None:
        """Stores `entry` atomically: readers see the old file or the new one, never part."""
        target = self.path(entry.network_name, entry.container_id, entry.ifname)
        os.makedirs(self.results_dir, mode=0o700, exist_ok=True)
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
        tmp = f"{target}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, target)
        dir_fd = os.open(self.results_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self, network: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The cached attachment, or None when there is none or it cannot be parsed."""
        return self._read_file(self.path(network, container_id, ifname))

    def delete(self, network: str, container_id: str, ifname: str) -> None:
        """Removes the cached attachment; a missing one is fine."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(network, container_id, ifname))

    def attachments(self, network: str) -> list[CachedAttachment]:
        """Every readable cached attachment of `network` (for GC)."""
        try:
            names = sorted(os.listdir(self.results_dir))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if not name.startswith(f"{network}-") or ".tmp" in name:
                continue
            entry = self._read_file(os.path.join(self.results_dir, name))
            if entry is not None and entry.network_name == network:
                found.append(entry)
        return found

    @staticmethod
    def _read_file(path: str) -> CachedAttachment | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        try:
            doc = loads(data)
        except CNIError:
            return None
        if not isinstance(doc, dict):
            return None
        if doc.get("kind") != CACHE_KIND:
            # A legacy cache file holds the bare result; its identity is the file name.
            return None if "cniVersion" not in doc else _legacy(doc)
        try:
            config = base64.b64decode(doc.get("config") or "", validate=True)
        except ValueError:
            config = b""
        args = doc.get("cniArgs") or []
        return CachedAttachment(
            network_name=str(doc.get("networkName", "")),
            container_id=str(doc.get("containerId", "")),
            ifname=str(doc.get("ifName", "")),
            netns=str(doc.get("netns") or ""),
            config=config,
            cni_args=[(str(p[0]), str(p[1])) for p in args if isinstance(p, list) and len(p) == 2],
            capability_args=dict(doc.get("capabilityArgs") or {}),
            result=doc.get("result") if isinstance(doc.get("result"), dict) else None,
        )


def _legacy(result: dict[str, Any]) -> CachedAttachment:
    # Only the result is known; GC cannot match it to an attachment, DEL can use it.
    return CachedAttachment(network_name="", container_id="", ifname="", result=result)
