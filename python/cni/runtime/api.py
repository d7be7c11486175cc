# SPDX-License-Identifier: Apache-2.0
"""The runtime side of CNI: what containerd or podman do through libcni, for Python.

:class:`CNIConfig` runs a network's plugins for ADD (in order, threading `prevResult`),
CHECK, DEL (in reverse), GC and STATUS, negotiates versions, injects capability args as
`runtimeConfig`, and keeps the final ADD result in libcni's cache layout.

Beyond libcni: identifiers are validated for every verb (not only ADD), CNI_ARGS values
that would inject keys are refused, every exec has a timeout and an output bound, cache
writes are atomic, and GC is exclusive with ADD/CHECK/DEL through a lock file in the cache
directory, as the spec requires of runtimes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cni import cniargs, versions
from cni._native import dumps, loads
from cni.conversion import convert
from cni.errors import (
    CNIError,
    DecodingFailure,
    IncompatibleCNIVersion,
    InvalidEnvironmentVariables,
    InvalidNetworkConfig,
    IOFailure,
)
from cni.invoke import PluginTimedOut, find_in_path, plugin_error, run
from cni.models.result import VersionResult, parse_result
from cni.runtime.cache import DEFAULT_CACHE_DIR, CachedAttachment, ResultCache, check_attachment_ids
from cni.runtime.conflist import NetworkConfigList, conflist_from_bytes

#: Default bound on one plugin exec, in seconds.
DEFAULT_TIMEOUT = 120.0


@dataclass
class RuntimeConf:
    """One attachment: which container, its netns, the interface name and extra args."""

    container_id: str
    netns: str = ""
    ifname: str = "eth0"
    args: list[tuple[str, str]] = field(default_factory=list)
    capability_args: dict[str, Any] = field(default_factory=dict)


def _check_runtime_conf(network: str, rt: RuntimeConf) -> None:
    """Refuses, before anything runs, what no plugin could be given or no cache could hold."""
    check_attachment_ids(network, rt.container_id, rt.ifname)
    if "\0" in rt.netns:
        raise InvalidEnvironmentVariables(f"invalid netns path {rt.netns!r}: contains NUL")


class CNIErrorGroup(CNIError):
    """Several failures (GC keeps going); `code` is the first one's."""

    def __init__(self, errors: list[CNIError]) -> None:
        super().__init__("; ".join(str(e) for e in errors), code=errors[0].code)
        self.errors = errors


class CNIConfig:
    """Runs CNI plugins found in `path` for network configuration lists.

    `env` is the base environment given to plugins (default: ours without CNI_* variables);
    `timeout` bounds each exec in seconds (None: no bound).
    """

    def __init__(
        self,
        path: list[str],
        *,
        cache_dir: str = DEFAULT_CACHE_DIR,
        timeout: float | None = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = [p for p in path if p.startswith("/")]
        self.cache = ResultCache(cache_dir)
        self.timeout = timeout
        if env is None:
            # Our own CNI_* variables (CNI_NETNS_OVERRIDE among them) are not the plugins'.
            env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.env = dict(env)

    # --- exec ---------------------------------------------------------------------------

    def _plugin_env(self, command: str, rt: RuntimeConf | None) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            CNI_COMMAND=command,
            CNI_CONTAINERID=rt.container_id if rt else "",
            CNI_NETNS=rt.netns if rt else "",
            CNI_IFNAME=rt.ifname if rt else "",
            CNI_ARGS=cniargs.build(rt.args) if rt else "",
            CNI_PATH=":".join(self.path),
        )
        return env

    def _exec(self, plugin_type: str, command: str, conf: dict[str, Any], rt: RuntimeConf | None) -> bytes:
        plugin = find_in_path(plugin_type, self.path)
        completed = run(plugin, self._plugin_env(command, rt), dumps(conf).encode(), timeout=self.timeout)
        if completed.returncode != 0:
            raise plugin_error(plugin, completed)
        return completed.stdout

    @staticmethod
    def _plugin_conf(
        network: NetworkConfigList,
        plugin: dict[str, Any],
        rt: RuntimeConf | None,
        prev_result: dict[str, Any] | None,
    ) -> dict[str, Any]:
        conf = dict(plugin)
        conf["name"] = network.name
        conf["cniVersion"] = network.cni_version
        if prev_result is not None:
            conf["prevResult"] = prev_result
        if rt is not None:
            capabilities = plugin.get("capabilities") or {}
            runtime_config = {
                cap: rt.capability_args[cap]
                for cap, enabled in capabilities.items()
                if enabled is True and cap in rt.capability_args
            }
            # As libcni does: only set when non-empty, and then it replaces a static one.
            if runtime_config:
                conf["runtimeConfig"] = runtime_config
        return conf

    def _plugin_type(self, plugin: dict[str, Any]) -> str:
        plugin_type = plugin.get("type")
        if not isinstance(plugin_type, str):
            raise InvalidNetworkConfig("plugin config has no type")
        return plugin_type

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        """ADD/CHECK/DEL share the lock; GC takes it alone (the spec's GC exclusivity).

        flock has no queue, so a GC waiting for the exclusive lock would wait for ever while
        ADDs keep taking the shared one. A second lock, the gate, orders them: every verb
        passes it to take the main lock, and GC holds it until its own work is done, so ADDs
        that start after GC asked wait for it, and GC waits only for those in flight.
        Each call opens its own descriptors, so threads of one process exclude each other too.
        """
        gate = self._open_lock("gc.lock")
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)
            main = self._open_lock("lock")
            try:
                fcntl.flock(main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                if not exclusive:
                    os.close(gate)
                    gate = -1
                yield
            finally:
                os.close(main)
        finally:
            if gate >= 0:
                os.close(gate)

    def _open_lock(self, name: str) -> int:
        """Opens (making it if needed) a lock file of the cache directory. Anything else under
        its name (a directory, a symlink) is replaced: a broken cache directory must not turn
        every DEL into a failure the runtime retries for ever."""
        path = os.path.join(self.cache.cache_dir, name)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        os.makedirs(self.cache.cache_dir, mode=0o700, exist_ok=True)
        for _ in range(3):
            try:
                return os.open(path, flags, 0o600)
            except OSError as err:
                if err.errno not in (errno.EISDIR, errno.ELOOP, errno.ENXIO, errno.ENOTDIR):
                    raise
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        raise InvalidEnvironmentVariables(f"cannot open the lock file {path}")

    @staticmethod
    def _require_plugins(network: NetworkConfigList) -> None:
        if not network.plugins:
            raise InvalidNetworkConfig(f"network {network.name!r} has no plugins")

    # --- verbs ----------------------------------------------------------------------------

    def add_network_list(self, network: NetworkConfigList, rt: RuntimeConf) -> dict[str, Any]:
        """ADD every plugin in order; returns the final result in the network's version.

        When a plugin fails nothing is rolled back, as with libcni: the caller must DEL. Two
        failures are undone here, because the caller cannot clean up after them: a plugin
        that ran past the timeout and was killed (F7; the caller's own deadline has most
        likely passed too), and a result that cannot be cached (a full disk: a later DEL
        would have no prevResult). The library then DELs the attachment itself, each plugin
        with a fresh timeout, before raising.
        """
        _check_runtime_conf(network.name, rt)
        self._require_plugins(network)
        version = network.cni_version
        prev: dict[str, Any] | None = None
        with self._lock(exclusive=False):
            try:
                for plugin in network.plugins:
                    conf = self._plugin_conf(network, plugin, rt, prev)
                    out = self._exec(self._plugin_type(plugin), "ADD", conf, rt)
                    prev = self._decode_result(out, version)
            except PluginTimedOut as timeout:
                self._undo_add(network, rt, prev, timeout)
                raise
            if prev is None:
                raise InvalidNetworkConfig(f"network {network.name!r} has no plugins")
            entry = CachedAttachment(
                network_name=network.name,
                container_id=rt.container_id,
                ifname=rt.ifname,
                netns=rt.netns,
                config=network.data,
                cni_args=list(rt.args),
                capability_args=dict(rt.capability_args),
                result=prev,
            )
            try:
                self.cache.write(entry)
            except OSError as err:
                failure = IOFailure(
                    f"cannot cache the result of {network.name}/{rt.container_id}/{rt.ifname}: {err.strerror or err}",
                    "the attachment was removed again",
                )
                self._undo_add(network, rt, prev, failure)
                raise failure from None
        return prev

    def _undo_add(
        self, network: NetworkConfigList, rt: RuntimeConf, prev: dict[str, Any] | None, cause: CNIError
    ) -> None:
        """DEL every plugin in reverse order, past failures (each may hold something), with
        the result so far as prevResult; failures are added to the cause's details."""
        failures = []
        for plugin in reversed(network.plugins):
            try:
                self._exec(self._plugin_type(plugin), "DEL", self._plugin_conf(network, plugin, rt, prev), rt)
            except CNIError as err:
                failures.append(str(err))
        if failures:
            cause.details = "; ".join(filter(None, [cause.details, "cleanup DEL failed: " + "; ".join(failures)]))

    @staticmethod
    def _decode_result(out: bytes, version: str) -> dict[str, Any]:
        try:
            raw = loads(out)
        except CNIError as err:
            raise DecodingFailure(f"plugin printed an invalid result: {err.msg}") from None
        # A result without cniVersion gets the config's, as libcni's fixupResultVersion does.
        model = parse_result(raw, default_version=version)
        return model.to_dict(version)

    def check_network_list(self, network: NetworkConfigList, rt: RuntimeConf) -> None:
        """CHECK every plugin in order against the cached result (needs 0.4.0 or newer)."""
        _check_runtime_conf(network.name, rt)
        version = network.cni_version
        versions.check_verb_allowed("CHECK", version)
        if network.model.disable_check:
            return
        with self._lock(exclusive=False):
            prev = self.get_cached_result(network, rt)
            for plugin in network.plugins:
                self._exec(self._plugin_type(plugin), "CHECK", self._plugin_conf(network, plugin, rt, prev), rt)

    def del_network_list(self, network: NetworkConfigList, rt: RuntimeConf) -> None:
        """DEL every plugin in reverse order, then forget the cached result.

        An unreadable cache does not block DEL: it is removed and DEL runs without
        `prevResult`. Plugins are called even when the netns is gone, so they can release
        what they hold outside it (IP reservations, firewall rules).
        """
        _check_runtime_conf(network.name, rt)
        with self._lock(exclusive=False):
            cached = self.cache.read(network.name, rt.container_id, rt.ifname)
            self._del_locked(network, rt, cached.result if cached else None)

    def gc_network_list(
        self, network: NetworkConfigList, valid_attachments: list[tuple[str, str]] | None = None
    ) -> list[tuple[str, str]]:
        """Removes what belongs to attachments of `network` not in `valid_attachments`.

        First a DEL for every cached attachment not in the list (this cleans up even with
        plugins older than 1.1.0), then, for 1.1.0 configs, the GC verb to every plugin with
        both `cni.dev/valid-attachments` and `cni.dev/attachments`. Keeps going past
        failures and raises them together. `valid_attachments=None` means "none are valid",
        as in cnitool. Returns the (container ID, ifname) of each attachment it removed.

        The list describes the moment of the call, so only attachments cached at that moment
        (and not re-added since) can be collected: one whose ADD was in flight or started
        later is kept, and named valid to the plugins. Cache files no one can use
        (unparseable entries, temporary files of killed writers) are removed.
        """
        if network.model.disable_gc:
            return []
        valid = {(cid, ifname) for cid, ifname in valid_attachments or []}
        # Taken before waiting for the lock: the attachments the caller's list can speak of.
        known = {
            cached.file_name: self.cache.stamp(cached.file_name) for cached in self.cache.attachments(network.name)
        }
        removed: list[tuple[str, str]] = []
        errors: list[CNIError] = []
        with self._lock(exclusive=True):
            attachments, junk = self.cache.scan(network.name)
            for name in junk:
                with contextlib.suppress(OSError):
                    self.cache.delete_file(name)
            kept = set(valid)
            for cached in attachments:
                identity = (cached.container_id, cached.ifname)
                if identity in valid:
                    continue
                stamp = known.get(cached.file_name)
                if stamp is None or stamp != self.cache.stamp(cached.file_name):
                    kept.add(identity)  # added (or re-added) after the call
                    continue
                rt = RuntimeConf(
                    container_id=cached.container_id,
                    netns=cached.netns,
                    ifname=cached.ifname,
                    args=list(cached.cni_args),
                    capability_args=dict(cached.capability_args),
                )
                try:
                    self._del_locked(network, rt, cached.result)
                except CNIError as err:
                    errors.append(err)
                else:
                    removed.append(identity)
            if versions.at_least(network.cni_version, "1.1.0"):
                listed = [{"containerID": cid, "ifname": ifname} for cid, ifname in sorted(kept)]
                for plugin in network.plugins:
                    conf = self._plugin_conf(network, plugin, None, None)
                    conf["cni.dev/valid-attachments"] = listed
                    conf["cni.dev/attachments"] = listed
                    try:
                        self._exec(self._plugin_type(plugin), "GC", conf, None)
                    except CNIError as err:
                        errors.append(err)
        if errors:
            raise CNIErrorGroup(errors)
        return removed

    def _del_locked(self, network: NetworkConfigList, rt: RuntimeConf, cached: dict[str, Any] | None) -> None:
        check_attachment_ids(network.name, rt.container_id, rt.ifname)
        prev = None
        if cached is not None and versions.at_least(network.cni_version, "0.4.0"):
            try:
                prev = convert(cached, network.cni_version, from_version=network.cni_version)
            except CNIError:
                prev = None  # a result we cannot read (unknown version, wrong types): DEL without it
        for plugin in reversed(network.plugins):
            self._exec(self._plugin_type(plugin), "DEL", self._plugin_conf(network, plugin, rt, prev), rt)
        self.cache.delete(network.name, rt.container_id, rt.ifname)

    def get_status_network_list(self, network: NetworkConfigList) -> None:
        """STATUS every plugin in order; raises the first failure. Before 1.1.0: ready."""
        if not versions.at_least(network.cni_version, "1.1.0"):
            return
        for plugin in network.plugins:
            self._exec(self._plugin_type(plugin), "STATUS", self._plugin_conf(network, plugin, None, None), None)

    # --- inspection -------------------------------------------------------------------------

    def get_version_info(self, plugin_type: str) -> VersionResult:
        """Asks a plugin which versions it supports (libcni's probe)."""
        plugin = find_in_path(plugin_type, self.path)
        env = self._plugin_env("VERSION", None)
        env.update(CNI_NETNS="dummy", CNI_IFNAME="dummy", CNI_PATH="dummy")
        completed = run(plugin, env, dumps({"cniVersion": versions.CURRENT}).encode(), timeout=self.timeout)
        if completed.returncode != 0:
            err = plugin_error(plugin, completed)
            if "unknown CNI_COMMAND: VERSION" in err.msg:
                return VersionResult(cniVersion="0.1.0", supportedVersions=["0.1.0"])
            raise err
        raw = loads(completed.stdout)
        if not isinstance(raw, dict):
            raise DecodingFailure(f"plugin {plugin_type} printed an invalid VERSION result")
        info = VersionResult.model_validate(raw)
        if not info.supported_versions:
            # Plugins from before the list existed answered with their version alone.
            info.supported_versions = ["0.1.0", "0.2.0"] if info.cni_version == "0.2.0" else [info.cni_version]
        return info

    def validate_network_list(self, network: NetworkConfigList) -> list[str]:
        """Checks every plugin exists and supports the network's version.

        Returns the capabilities the network's plugins enable; raises every problem found.
        """
        errors: list[CNIError] = []
        caps: set[str] = set()
        version = network.cni_version
        for plugin in network.plugins:
            try:
                plugin_type = self._plugin_type(plugin)
                info = self.get_version_info(plugin_type)
                if version not in info.supported_versions:
                    raise IncompatibleCNIVersion(
                        f"plugin {plugin_type} does not support config version {version!r}",
                        f"it supports {', '.join(info.supported_versions)}",
                    )
            except CNIError as err:
                errors.append(err)
            caps.update(k for k, v in (plugin.get("capabilities") or {}).items() if v is True)
        if errors:
            raise CNIErrorGroup(errors)
        return sorted(caps)

    def get_cached_result(self, network: NetworkConfigList, rt: RuntimeConf) -> dict[str, Any] | None:
        """The cached ADD result in the network's version, or None if none is readable."""
        cached = self.cache.read(network.name, rt.container_id, rt.ifname)
        if cached is None or cached.result is None:
            return None
        try:
            return convert(cached.result, network.cni_version, from_version=network.cni_version)
        except CNIError:
            return None

    def get_cached_config(self, network_name: str, rt: RuntimeConf) -> tuple[NetworkConfigList, RuntimeConf] | None:
        """The config and runtime args an attachment was added with, from the cache."""
        cached = self.cache.read(network_name, rt.container_id, rt.ifname)
        if cached is None or not cached.config:
            return None
        network = conflist_from_bytes(cached.config)
        return network, RuntimeConf(
            container_id=cached.container_id,
            netns=cached.netns,
            ifname=cached.ifname,
            args=list(cached.cni_args),
            capability_args=dict(cached.capability_args),
        )
