# SPDX-License-Identifier: Apache-2.0
"""Loading network configurations from files and bytes, as libcni does.

A directory is read in sorted order: `.conflist` files first, then legacy single-plugin
`.conf`/`.json` files, which are up-converted to a one-plugin list. A broken file is
reported beside the networks that did load; it does not hide them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cni import versions
from cni._native import dumps, loads
from cni.errors import CNIError, InvalidNetworkConfig
from cni.models.netconf import NetConfList, parse_conflist, parse_netconf

CONFLIST_EXTENSIONS = (".conflist",)
CONF_EXTENSIONS = (".conf", ".json")


@dataclass
class NetworkConfigList:
    """A network: its validated model, the raw JSON object and the bytes it came from.

    Plugins get the raw plugin objects (unknown keys included); `source` is the file.
    """

    model: NetConfList
    raw: dict[str, Any]
    data: bytes
    source: str | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def cni_version(self) -> str:
        """The version negotiated from `cniVersion` and `cniVersions` (highest we speak)."""
        return negotiate_version(self.model.cni_version, self.model.cni_versions)

    @property
    def plugins(self) -> list[dict[str, Any]]:
        plugins = self.raw.get("plugins") or []
        return [p for p in plugins if isinstance(p, dict)]


@dataclass
class LoadedConfigs:
    """What a directory held: networks in load order and the files that failed, with why."""

    networks: list[NetworkConfigList] = field(default_factory=list)
    errors: list[tuple[str, CNIError]] = field(default_factory=list)

    def get(self, name: str) -> NetworkConfigList:
        """The first network called `name` (libcni's rule when two files share a name)."""
        for network in self.networks:
            if network.name == name:
                return network
        problems = "".join(f"; {path}: {err.msg}" for path, err in self.errors)
        raise InvalidNetworkConfig(f"no network named {name!r} found{problems}")


def negotiate_version(version: str | None, supported: list[str] | None) -> str:
    """The highest of `cniVersion` and `cniVersions` that this library speaks.

    Entries newer than ours are dropped, as libcni does; an unparsable one is an error.
    """
    candidates = [version] if version else []
    candidates += supported or []
    if not candidates:
        return versions.DEFAULT
    known = []
    for candidate in candidates:
        parsed = versions.parse(candidate)
        if parsed <= versions.parse(versions.CURRENT):
            known.append((parsed, candidate))
    if not known:
        raise InvalidNetworkConfig(
            f"none of the config's versions {candidates} is supported (newest known: {versions.CURRENT})"
        )
    return max(known)[1]


def conflist_from_bytes(data: bytes, source: str | None = None) -> NetworkConfigList:
    """Parses and validates a conflist."""
    raw = loads(data)
    model = parse_conflist(raw)
    assert isinstance(raw, dict)
    return NetworkConfigList(model=model, raw=raw, data=data, source=source)


def conflist_from_conf(data: bytes, source: str | None = None) -> NetworkConfigList:
    """Up-converts a legacy single-plugin config to a one-plugin list."""
    raw = loads(data)
    parse_netconf(raw)
    assert isinstance(raw, dict)
    listed: dict[str, Any] = {"name": raw["name"], "plugins": [raw]}
    if raw.get("cniVersion"):
        listed["cniVersion"] = raw["cniVersion"]
    encoded = dumps(listed).encode()
    return NetworkConfigList(model=parse_conflist(listed), raw=listed, data=encoded, source=source)


def _fragments(directory: str, network: NetworkConfigList) -> NetworkConfigList:
    """Appends plugin fragments from `<dir>/<name>/*.conf` (libcni v1.3.0)."""
    if network.model.load_only_inlined_plugins:
        return network
    fragment_dir = os.path.join(directory, network.name)
    if not os.path.isdir(fragment_dir):
        return network
    extra = []
    for entry in sorted(os.listdir(fragment_dir)):
        if entry.endswith(".conf"):
            with open(os.path.join(fragment_dir, entry), "rb") as f:
                fragment = loads(f.read())
            if not isinstance(fragment, dict) or "type" not in fragment:
                raise InvalidNetworkConfig(f"plugin fragment {entry} has no type")
            extra.append(fragment)
    if not extra:
        return network
    raw = {**network.raw, "plugins": [*network.plugins, *extra]}
    return NetworkConfigList(parse_conflist(raw), raw, dumps(raw).encode(), network.source)


def load_dir(directory: str) -> LoadedConfigs:
    """Loads every network in `directory`; a missing directory holds none."""
    loaded = LoadedConfigs()
    try:
        entries = sorted(os.listdir(directory))
    except FileNotFoundError:
        return loaded
    for extensions, parse in ((CONFLIST_EXTENSIONS, conflist_from_bytes), (CONF_EXTENSIONS, conflist_from_conf)):
        for entry in entries:
            path = os.path.join(directory, entry)
            if not entry.endswith(extensions) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    network = parse(f.read(), path)
                network = _fragments(directory, network)
                if not network.plugins:
                    raise InvalidNetworkConfig(f"network {network.name!r} has no plugins")
            except CNIError as err:
                loaded.errors.append((path, err))
            except OSError as err:
                loaded.errors.append((path, InvalidNetworkConfig(f"cannot read {path}: {err.strerror}")))
            else:
                loaded.networks.append(network)
    return loaded
