# SPDX-License-Identifier: Apache-2.0
"""The tuning plugin: sysctls and link settings of the pod's interface (chained).

Keys of the reference: `sysctl` (an object of key to value; a key is dotted, as
`net.ipv4.conf.IFNAME.rp_filter`, or a path with slashes, which keeps its dots for names
such as `eth0.100`; the first `IFNAME` becomes CNI_IFNAME; the file must be under
`/proc/sys/net/` of the pod), `mac` (also `CNI_ARGS MAC=`, `runtimeConfig.mac` and
`args.cni.mac`, the last winning, as the reference orders them), `mtu`, `promisc`,
`allmulti`, `txQLen`, each also under `args.cni`, and `dataDir` (default
`/run/cni/tuning`). When `/etc/cni/tuning/allowlist.conf` exists, every sysctl key must
match one of its lines (regular expressions, searched as Go's `MatchString` does).

Before it changes anything, ADD records the earlier values in
`<dataDir>/<containerID>_<ifname>.json` (replaced atomically; the reference's layout and
keys, so either implementation's DEL restores the link settings the other changed). Ours
also records the sysctls it wrote, and DEL restores them too: the reference leaves them
changed. A repeated ADD keeps the values from before the first. GC drops the records of
attachments the runtime no longer lists; STATUS fails (code 50) when the allowlist cannot
be read or holds a line that is not a regular expression.
"""

from __future__ import annotations

from cni import _posix, cniargs, skel, versions
from cni.errors import CNIError, InvalidNetworkConfig, NetlinkError, PluginNotAvailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

    from cni._native import Link, Netlink
    from cni.plugins._fields import Field

ABOUT = "tuning plugin (cni package)"
DEFAULT_DATA_DIR = "/run/cni/tuning"
ALLOWLIST = "/etc/cni/tuning/allowlist.conf"
# The link settings, by their key in the config and in the record (the reference's names).
LINK_KEYS = ("mac", "mtu", "promisc", "allmulti", "txQLen")
_ERRNO_EINVAL, _ERRNO_ENOENT, _ERRNO_ERANGE = 22, 2, 34


def _sysctl_problem(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object of sysctl keys to string values"
    for key, setting in value.items():
        if not key or any(c in key for c in "\0\n"):
            return f"key {key!r} is not a sysctl name"
        if not isinstance(setting, str):
            return f"value of {key!r} must be a string"
    return None


def fields() -> tuple[Field, ...]:
    from cni.plugins._fields import UINT32, Field, boolean, integer, mac, path_string

    keys: list[Field] = [path_string("dataDir", f"where ADD records the earlier values (default {DEFAULT_DATA_DIR})")]
    for prefix in ("", "args.cni."):
        keys += [
            Field(f"{prefix}sysctl", _sysctl_problem, {"type": "object"}, "sysctls to set in the pod's namespace"),
            mac(f"{prefix}mac", "MAC address of the interface"),
            integer(f"{prefix}mtu", 0, 65535, "MTU of the interface (0: unchanged)"),
            boolean(f"{prefix}promisc", "promiscuous mode on"),
            boolean(f"{prefix}allmulti", "all-multicast mode on or off"),
            integer(f"{prefix}txQLen", 0, UINT32, "transmit queue length"),
        ]
    keys.append(mac("runtimeConfig.mac", "MAC address of the interface (the runtime's)"))
    for key in keys:
        # DEL restores from the record: what the config asks for does not matter then.
        key.ignored_by_del = key.path != "dataDir"
    return tuple(keys)


class Config:
    """What ADD changes: the merged keys, by the reference's precedence."""

    __slots__ = ("data_dir", "link", "sysctls")

    def __init__(self, args: skel.CmdArgs) -> None:
        conf = args.conf
        cni_args = conf.get("args")
        extra = cni_args.get("cni") if isinstance(cni_args, dict) else None
        extra = extra if isinstance(extra, dict) else {}
        sysctls: dict[str, str] = {}
        for source in (conf.get("sysctl"), extra.get("sysctl")):
            if isinstance(source, dict):
                sysctls.update(source)
        self.sysctls = sysctls
        link: dict[str, object] = {}
        for key in LINK_KEYS:
            for source in (conf, extra):
                if source.get(key) is not None:
                    link[key] = source[key]
        if args.command != "DEL":
            env_mac = cniargs.load(args.args, ["MAC"]).get("MAC")
            runtime = conf.get("runtimeConfig")
            runtime_mac = runtime.get("mac") if isinstance(runtime, dict) else None
            for mac in (env_mac, runtime_mac, extra.get("mac")):
                if isinstance(mac, str) and mac:
                    link["mac"] = mac
        # The reference's "no change" values: an empty MAC, MTU 0, promisc false.
        if link.get("mac") == "":
            del link["mac"]
        if link.get("mtu") == 0:
            del link["mtu"]
        if link.get("promisc") is False:
            del link["promisc"]
        if isinstance(link.get("mac"), str):
            link["mac"] = str(link["mac"]).lower()
        self.link = link
        data_dir = conf.get("dataDir")
        self.data_dir = data_dir if isinstance(data_dir, str) else DEFAULT_DATA_DIR


# --- sysctl keys ---------------------------------------------------------------------------------


def _resolve(key: str, ifname: str) -> str:
    """The file a sysctl key names in the pod: dots become slashes (unless the key is a path
    already), then the first IFNAME becomes the interface, as the reference resolves it."""
    from cni._native import sysctl_path
    from cni.errors import InvalidValue

    path_key = key if "/" in key else key.replace(".", "/")
    try:
        return sysctl_path(path_key.replace("IFNAME", ifname, 1))
    except InvalidValue:
        raise InvalidNetworkConfig(f"tuning: sysctl {key!r} is not a network sysctl under /proc/sys/net/") from None


def _read_allowlist() -> list[str] | None:
    """The allowlist's patterns, or None when there is no allowlist."""
    import posix

    try:
        fd = posix.open(ALLOWLIST, posix.O_RDONLY | posix.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PluginNotAvailable(f"tuning: cannot read the sysctl allowlist {ALLOWLIST}: {err.strerror}") from None
    try:
        text = _posix.read_all(fd).decode("utf-8", "replace")
    finally:
        posix.close(fd)
    return [line.strip() for line in text.split("\n") if line.strip()]


def _allowed(patterns: list[str]) -> list[re.Pattern[str]]:
    import re

    compiled: list[re.Pattern[str]] = []
    for number, pattern in enumerate(patterns, 1):
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise PluginNotAvailable(
                f"tuning: line {number} of {ALLOWLIST} is not a regular expression: {pattern!r} ({err})"
            ) from None
    return compiled


def _planned_sysctls(config: Config, ifname: str) -> list[tuple[str, str, str]]:
    """(key, file, value) of every sysctl to write, checked against the allowlist."""
    patterns = _read_allowlist() if config.sysctls else None
    allowed = _allowed(patterns) if patterns is not None else None
    planned: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for key, value in config.sysctls.items():
        if allowed is not None and not any(p.search(key) for p in allowed):
            raise InvalidNetworkConfig(f"tuning: sysctl {key!r} is not allowed by {ALLOWLIST}")
        path = _resolve(key, ifname)
        if path in seen:
            raise InvalidNetworkConfig(f"tuning: sysctl keys {seen[path]!r} and {key!r} name the same file {path}")
        seen[path] = key
        planned.append((key, path, value))
    return planned


def _sysctl_failure(key: str, err: NetlinkError) -> CNIError:
    if err.errno == _ERRNO_ENOENT:
        return InvalidNetworkConfig(f"tuning: sysctl {key!r}: no such sysctl in the pod's namespace")
    if err.errno in (_ERRNO_EINVAL, _ERRNO_ERANGE):
        return InvalidNetworkConfig(f"tuning: sysctl {key!r}: the kernel refused the value ({err})")
    return err


def _failed_key(planned: list[tuple[str, str, str]], err: NetlinkError) -> str:
    return next((key for key, path, _ in planned if path in err.operation), planned[0][0])


# --- the record ------------------------------------------------------------------------------------


def _record_name(container_id: str, ifname: str) -> str:
    return f"{container_id}_{ifname}.json"


def _read_record(data_dir: str, name: str) -> dict[str, object] | None:
    from cni.plugins._records import read_object

    return read_object(_posix.join(data_dir, name))


def _link_settings(link: Link) -> dict[str, object]:
    """A link's current settings, by the record's keys."""
    return {"mac": link.mac, "mtu": link.mtu, "promisc": link.promisc, "allmulti": link.allmulti, "txQLen": link.txqlen}


def _set_link(pod: Netlink, ifname: str, settings: dict[str, object]) -> None:
    """One RTM_SETLINK with the settings given (the others are left alone)."""
    mac, mtu, promisc = settings.get("mac"), settings.get("mtu"), settings.get("promisc")
    allmulti, txqlen = settings.get("allmulti"), settings.get("txQLen")
    pod.set_link(
        ifname,
        mac=mac if isinstance(mac, str) else None,
        mtu=mtu if isinstance(mtu, int) else None,
        promisc=promisc if isinstance(promisc, bool) else None,
        allmulti=allmulti if isinstance(allmulti, bool) else None,
        txqlen=txqlen if isinstance(txqlen, int) else None,
    )


# --- verbs ----------------------------------------------------------------------------------------


def _previous(args: skel.CmdArgs) -> dict[str, object]:
    prev = args.conf.get("prevResult")
    if not isinstance(prev, dict):
        raise InvalidNetworkConfig("tuning: missing prevResult from an earlier plugin")
    from cni.conversion import convert

    return convert(prev, versions.CURRENT, from_version=args.cni_version)


def _open_pod(args: skel.CmdArgs) -> Netlink:
    from cni._native import Netlink

    return Netlink(args.netns)


def cmd_add(args: skel.CmdArgs) -> dict[str, object]:
    config = Config(args)
    result = _previous(args)
    planned = _planned_sysctls(config, args.ifname)
    pod = _open_pod(args)
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"tuning: interface {args.ifname} not found in {args.netns}")
    from cni._native import dumps, read_sysctls, write_sysctls

    try:
        before = read_sysctls([path for _, path, _ in planned], args.netns) if planned else []
    except NetlinkError as err:
        raise _sysctl_failure(_failed_key(planned, err), err) from None
    name = _record_name(args.container_id, args.ifname)
    kept = _read_record(config.data_dir, name) or {}
    current = _link_settings(link)
    record: dict[str, object] = {key: kept.get(key, current[key]) for key in config.link}
    kept_sysctls = kept.get("sysctl")
    restore = dict(kept_sysctls) if isinstance(kept_sysctls, dict) else {}
    for (_, path, _), value in zip(planned, before, strict=True):
        restore.setdefault(path, value)
    record["sysctl"] = restore
    # Ours: which attachment of which network the record is, for GC.
    record.update(containerID=args.container_id, ifname=args.ifname, network=args.conf.get("name"))
    _posix.makedirs(config.data_dir, 0o700)
    _posix.replace_file(config.data_dir, name, dumps(record, 1).encode())
    try:
        if planned:
            try:
                write_sysctls([(path, value) for _, path, value in planned], args.netns)
            except NetlinkError as err:
                raise _sysctl_failure(_failed_key(planned, err), err) from None
        if config.link:
            try:
                _set_link(pod, args.ifname, config.link)
            except NetlinkError as err:
                if err.errno in (_ERRNO_EINVAL, _ERRNO_ERANGE):
                    refused = f"tuning: the kernel refused the settings of {args.ifname}: {err}"
                    raise InvalidNetworkConfig(refused) from None
                raise
    except BaseException:
        _restore(pod, args, record)
        _posix.remove_file(config.data_dir, name)
        raise
    changed = pod.link(args.ifname)
    if "mac" in config.link and changed is not None:
        interfaces = result.get("interfaces")
        for iface in interfaces if isinstance(interfaces, list) else []:
            if isinstance(iface, dict) and iface.get("name") == args.ifname and iface.get("sandbox"):
                iface["mac"] = changed.mac
    return result


def _restore(pod: Netlink | None, args: skel.CmdArgs, record: dict[str, object]) -> None:
    """Puts back what the record says was there; a sysctl or link that is gone meanwhile
    (the interface was deleted) has nothing to restore."""
    from cni._native import write_sysctls

    if pod is None:
        return
    sysctls = record.get("sysctl")
    for path, value in reversed(list(sysctls.items()) if isinstance(sysctls, dict) else []):
        if not isinstance(path, str) or not isinstance(value, str):
            continue
        try:
            write_sysctls([(path, value)], args.netns)
        except NetlinkError as err:
            if err.errno != _ERRNO_ENOENT:
                raise
    settings = {key: record[key] for key in LINK_KEYS if record.get(key) is not None}
    # The reference records "mtu": 0 and "mac": "" for "not changed".
    if settings.get("mtu") == 0:
        del settings["mtu"]
    if settings.get("mac") == "":
        del settings["mac"]
    if settings and pod.link(args.ifname) is not None:
        _set_link(pod, args.ifname, settings)


def cmd_del(args: skel.CmdArgs) -> None:
    config = Config(args)
    name = _record_name(args.container_id, args.ifname)
    record = _read_record(config.data_dir, name)
    if record is None:
        _posix.remove_file(config.data_dir, name)
        return
    from cni.plugins._iface import open_pod

    _restore(open_pod(args), args, record)
    _posix.remove_file(config.data_dir, name)


def _same(wanted: str, current: str) -> bool:
    # The kernel shows some vectors with tabs (`net.ipv4.tcp_rmem`): compare the words.
    return wanted.split() == current.split()


def cmd_check(args: skel.CmdArgs) -> None:
    from cni._native import read_sysctls

    config = Config(args)
    _previous(args)
    planned = _planned_sysctls(config, args.ifname)
    pod = _open_pod(args)
    try:
        current = read_sysctls([path for _, path, _ in planned], args.netns) if planned else []
    except NetlinkError as err:
        raise _sysctl_failure(_failed_key(planned, err), err) from None
    for (key, path, wanted), value in zip(planned, current, strict=True):
        if not _same(wanted, value):
            raise CNIError(f"tuning: sysctl {key} ({path}) is {value!r}, configured {wanted!r}")
    link = pod.link(args.ifname)
    if link is None:
        raise CNIError(f"tuning: interface {args.ifname} not found in {args.netns}")
    settings = _link_settings(link)
    for setting, expected in config.link.items():
        if settings[setting] != expected:
            raise CNIError(f"tuning: {setting} of {args.ifname} is {settings[setting]!r}, configured {expected!r}")


def cmd_gc(args: skel.CmdArgs) -> None:
    import posix

    from cni.plugins._records import valid_set

    config = Config(args)
    valid = valid_set(args.valid_attachments())
    try:
        names = posix.listdir(config.data_dir)
    except OSError:
        return
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        record = _read_record(config.data_dir, name)
        # Records without our keys (the reference's) may belong to any network: left alone.
        if record is None or record.get("network") != args.conf.get("name"):
            continue
        if (str(record.get("containerID")), str(record.get("ifname"))) not in valid:
            _posix.remove_file(config.data_dir, name)


def cmd_status(args: skel.CmdArgs) -> None:
    patterns = _read_allowlist()
    if patterns is not None:
        _allowed(patterns)


PLUGIN = skel.Plugin(
    "tuning",
    add=cmd_add,
    delete=cmd_del,
    check=cmd_check,
    gc=cmd_gc,
    status=cmd_status,
    about=ABOUT,
    fields=fields,
)
