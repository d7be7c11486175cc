# SPDX-License-Identifier: Apache-2.0
"""What an ADD installed, kept until its DEL: one small JSON file per attachment under
`<dir>/<network>/<containerID>_<ifname>.json`, replaced atomically.

The firewall plugins and ipMasq write one before they change the kernel, so a DEL (even
after a crash, with the netns gone, or without the runtime resending its arguments) and a
GC (for attachments the runtime no longer lists) know exactly what to remove. The files live
under /run by default: the rules they describe do not survive a reboot either.
"""

from __future__ import annotations

import posix

from cni import _posix
from cni.errors import CNIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


class Records:
    """The records of one network."""

    __slots__ = ("directory",)

    def __init__(self, data_dir: str, network: str) -> None:
        self.directory = _posix.join(data_dir, network)

    @classmethod
    def of(cls, conf: dict[str, object], default_dir: str) -> Records:
        """The records of the config's network, under its `dataDir` or `default_dir`."""
        data_dir = conf.get("dataDir")
        return cls(data_dir if isinstance(data_dir, str) else default_dir, str(conf["name"]))

    @staticmethod
    def _name(container_id: str, ifname: str) -> str:
        return f"{container_id}_{ifname}.json"

    def write(self, container_id: str, ifname: str, record: dict[str, object]) -> None:
        from cni._native import dumps

        _posix.makedirs(self.directory, 0o700)
        _posix.replace_file(self.directory, self._name(container_id, ifname), dumps(record).encode())

    def read(self, container_id: str, ifname: str) -> dict[str, object] | None:
        """The record, or None when there is none or it cannot be read."""
        return read_object(_posix.join(self.directory, self._name(container_id, ifname)))

    def exists(self, container_id: str, ifname: str) -> bool:
        try:
            posix.lstat(_posix.join(self.directory, self._name(container_id, ifname)))
        except OSError:
            return False
        return True

    def remove(self, container_id: str, ifname: str) -> None:
        _posix.remove_file(self.directory, self._name(container_id, ifname))

    def stale(self, valid: set[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        """The (containerID, ifname) of every record not in `valid`."""
        try:
            names = posix.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            container_id, _, ifname = name.removesuffix(".json").rpartition("_")
            if container_id and (container_id, ifname) not in valid:
                yield container_id, ifname


def read_object(path: str) -> dict[str, object] | None:
    """The JSON object in the file at `path`; None when there is none, or it cannot be read
    or is not an object (the caller falls back on what it knows without it)."""
    from cni._native import loads

    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW | posix.O_NONBLOCK)
    except OSError:
        return None
    try:
        data = loads(_posix.read_all(fd))
    except (CNIError, OSError):
        return None
    finally:
        posix.close(fd)
    return data if isinstance(data, dict) else None


def forget_lost(records: Records, attachments: list[dict[str, object]]) -> None:
    """GC of a plugin whose leftovers lived in the pod's namespace, gone with it: the
    records of attachments not in `attachments` go."""
    for container_id, ifname in list(records.stale(valid_set(attachments))):
        records.remove(container_id, ifname)


def valid_set(attachments: list[dict[str, object]]) -> set[tuple[str, str]]:
    return {(str(a.get("containerID")), str(a.get("ifname"))) for a in attachments}
