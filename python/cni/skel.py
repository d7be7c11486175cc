# SPDX-License-Identifier: Apache-2.0
"""The plugin SDK: read the CNI environment and stdin, check them, dispatch, answer.

A plugin module writes one function per verb and hands them to :func:`plugin_main`
(the plugins of this package declare a :class:`Plugin` each, which
:mod:`cni.plugins.registry` runs)::

    from cni import skel

    def add(args: skel.CmdArgs) -> dict:
        return {"cniVersion": "1.1.0", "ips": [...]}

    def main() -> int:
        return skel.plugin_main(add=add, delete=..., check=..., about="my plugin")

`plugin_main` validates the variables each verb needs (naming every missing one), the
container ID and interface name, the config's common keys and version gates, refuses a
CNI_NETNS that is the plugin's own namespace before anything runs, and prints the result
converted to the config's version, or the spec's error JSON on stdout with exit status 1.
An unexpected exception becomes code 999 with a one-line message; its traceback goes to
stderr. Environment, stdin and stdout are injectable for tests.

Every ADD is a new process, so this module imports only what the start-up path needs.
"""

from __future__ import annotations

import posix
import sys

from cni import _posix, netconf, versions
from cni.errors import (
    CNIError,
    IncompatibleCNIVersion,
    InternalError,
    InvalidEnvironmentVariables,
    InvalidNetNS,
    InvalidNetworkConfig,
    IOFailure,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import BinaryIO, TextIO

    from cni.plugins._fields import Field

#: Largest stdin accepted: configs are kilobytes; a bound keeps a bad runtime from OOMing us.
MAX_STDIN = 16 * 1024 * 1024

VERBS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")

# Which verbs need each variable (the Go skel's table, which the runtimes rely on).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "CNI_CONTAINERID": ("ADD", "DEL", "CHECK"),
    "CNI_NETNS": ("ADD", "CHECK"),
    "CNI_IFNAME": ("ADD", "DEL", "CHECK"),
    "CNI_PATH": ("ADD", "DEL", "CHECK", "GC", "STATUS"),
}

_NS_GET_NSTYPE = 0xB703
_CLONE_NEWNET = 0x40000000


class CmdArgs:
    """One invocation: the CNI_* variables, raw stdin and the parsed, checked config."""

    __slots__ = ("args", "command", "conf", "container_id", "env", "ifname", "netns", "path", "stdin_data")

    def __init__(
        self,
        command: str,
        container_id: str,
        netns: str,
        ifname: str,
        args: str,
        path: list[str],
        stdin_data: bytes,
        conf: dict[str, object],
        env: Mapping[str, str],
    ) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
        self.stdin_data = stdin_data
        self.conf = conf
        self.env = env

    @property
    def cni_version(self) -> str:
        """The config's version (0.1.0 when it has none)."""
        value = self.conf.get("cniVersion")
        return value if isinstance(value, str) and value else versions.DEFAULT

    def valid_attachments(self) -> list[dict[str, object]]:
        """GC: the attachments still in use (`cni.dev/valid-attachments`, or the older key)."""
        for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
            value = self.conf.get(key)
            if isinstance(value, list):
                return [a for a in value if isinstance(a, dict)]
        return []


def _read_stdin(stream: BinaryIO) -> bytes:
    try:
        data = stream.read(MAX_STDIN + 1)
    except OSError as err:
        raise IOFailure(f"error reading from stdin: {err}") from None
    if len(data) > MAX_STDIN:
        raise IOFailure(f"config on stdin is larger than {MAX_STDIN} bytes")
    return data


def _check_env(command: str, env: Mapping[str, str]) -> None:
    missing = [var for var, verbs in _REQUIRED.items() if command in verbs and not env.get(var)]
    if missing:
        raise InvalidEnvironmentVariables(f"required env variables [{','.join(missing)}] missing")
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not netconf.is_valid_id(container_id):
        raise InvalidEnvironmentVariables(
            f"invalid CNI_CONTAINERID {container_id!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
        )
    ifname = env.get("CNI_IFNAME", "")
    if ifname or command in _REQUIRED["CNI_IFNAME"]:
        problem = netconf.ifname_problem(ifname)
        if problem:
            raise InvalidEnvironmentVariables(f"invalid CNI_IFNAME {ifname!r}: {problem}")


def _check_netns(command: str, netns: str, env: Mapping[str, str]) -> None:
    """Refuses a CNI_NETNS that is not a network namespace, or is our own.

    Runs before the plugin does anything: a recycled `/proc/<pid>/ns/net` that now points
    at the host must never get the host's interfaces changed (kubernetes#100648). DEL of a
    namespace that is already gone is fine; the plugin cleans up what it can.
    """
    if not netns or command not in ("ADD", "CHECK", "DEL"):
        return
    try:
        fd = posix.open(netns, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError as err:
        if command == "DEL":
            return
        raise InvalidNetNS(f"failed to open netns {netns!r}: {err.strerror}") from None
    try:
        import fcntl

        try:
            ns_type = fcntl.ioctl(fd, _NS_GET_NSTYPE)
        except OSError:
            ns_type = -1
        if ns_type != _CLONE_NEWNET:
            if command == "DEL":
                return
            raise InvalidNetNS(f"{netns!r} is not a network namespace")
        mine = posix.stat("/proc/self/ns/net")
        theirs = posix.fstat(fd)
    finally:
        posix.close(fd)
    override = env.get("CNI_NETNS_OVERRIDE", "").lower() in ("1", "true")
    if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) and not override:
        raise InvalidNetNS(
            f"netns {netns!r} is the plugin's own network namespace",
            "set CNI_NETNS_OVERRIDE=1 if this is intended",
        )


def _finish_even_if_asked_to_stop() -> None:
    """A DEL interrupted halfway leaks what it had not removed yet, and the runtime's retry
    may find the namespace gone: so DEL ignores SIGTERM and SIGINT (as netavark's teardown
    does). SIGKILL still works; DEL is idempotent, so a retry finishes the job."""
    import _signal  # type: ignore[import-not-found]  # the C module: `signal` imports enum

    for signum in (_signal.SIGTERM, _signal.SIGINT):
        _signal.signal(signum, _signal.SIG_IGN)


def _parse_conf(command: str, data: bytes, supported: tuple[str, ...]) -> dict[str, object]:
    from cni._native import loads

    parsed = loads(data)
    checked = netconf.check_plugin_conf(parsed)
    version = checked.get("cniVersion") or versions.DEFAULT
    assert isinstance(version, str)
    if version not in supported:
        raise IncompatibleCNIVersion(
            f"incompatible CNI versions; config is {version!r}, plugin supports {list(supported)}"
        )
    versions.check_verb_allowed(command, version)
    return checked


def version_info(supported: tuple[str, ...]) -> dict[str, object]:
    """The VERSION result."""
    return {"cniVersion": versions.CURRENT, "supportedVersions": list(supported)}


def _write_json(stdout: TextIO, obj: object) -> None:
    from cni._native import dumps

    stdout.write(dumps(obj, 4))
    stdout.write("\n")
    stdout.flush()


class Plugin:
    """A plugin: a handler per verb, the config keys it declares, what it says it is.

    Handlers take :class:`CmdArgs`; ADD returns the result. A verb without a handler is an
    error, except GC and STATUS, which then report clean and ready. `fields` gives the
    declared keys (:mod:`cni.plugins._fields`), checked before any handler runs; it is called
    only then, so VERSION never builds the table.
    """

    __slots__ = ("about", "fields", "handlers", "name", "supported_versions")

    def __init__(
        self,
        name: str,
        *,
        add: Callable[[CmdArgs], object] | None = None,
        delete: Callable[[CmdArgs], object] | None = None,
        check: Callable[[CmdArgs], object] | None = None,
        gc: Callable[[CmdArgs], object] | None = None,
        status: Callable[[CmdArgs], object] | None = None,
        about: str = "",
        fields: Callable[[], tuple[Field, ...]] | None = None,
        supported_versions: tuple[str, ...] = versions.ALL,
    ) -> None:
        self.name = name
        self.handlers = {"ADD": add, "DEL": delete, "CHECK": check, "GC": gc, "STATUS": status}
        self.about = about
        self.fields = fields
        self.supported_versions = supported_versions


def dispatch(plugin: Plugin, env: Mapping[str, str], stdin: BinaryIO, *, own_process: bool = False) -> object:
    """Runs one verb; returns what should be printed (or None) or raises :class:`CNIError`.

    `own_process` says the plugin is this process (not a test or an in-process delegate),
    so process-wide settings such as signal handling may be changed.
    """
    supported = plugin.supported_versions
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise InvalidEnvironmentVariables("required env variables [CNI_COMMAND] missing")
    if command not in VERBS:
        raise InvalidEnvironmentVariables(f"unknown CNI_COMMAND: {command}")
    if command == "VERSION":
        return version_info(supported)
    _check_env(command, env)
    data = _read_stdin(stdin)
    parsed = _parse_conf(command, data, supported)
    if plugin.fields is not None:
        from cni.plugins._fields import check_fields

        check_fields(parsed, plugin.fields(), plugin.name or "plugin", deleting=command == "DEL")
    if command == "GC" and not any(
        isinstance(parsed.get(k), list) for k in ("cni.dev/valid-attachments", "cni.dev/attachments")
    ):
        # Fail safe: without the list every attachment would look stale.
        raise InvalidNetworkConfig("GC needs cni.dev/valid-attachments: a list of the attachments to keep")
    if command == "CHECK" and not isinstance(parsed.get("prevResult"), dict):
        raise InvalidNetworkConfig("required prevResult missing: CHECK compares against the ADD result")
    netns = env.get("CNI_NETNS", "")
    _check_netns(command, netns, env)
    args = CmdArgs(
        command=command,
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=netns,
        ifname=env.get("CNI_IFNAME", ""),
        args=env.get("CNI_ARGS", ""),
        path=netconf.split_path(env.get("CNI_PATH", "")),
        stdin_data=data,
        conf=parsed,
        env=env,
    )
    if command == "DEL" and own_process:
        _finish_even_if_asked_to_stop()
    handler = plugin.handlers.get(command)
    if handler is None:
        if command in ("GC", "STATUS"):
            # A plugin with nothing to collect or report is ready and clean.
            return None
        raise InternalError(f"plugin does not implement {command}")
    result = handler(args)
    if command != "ADD":
        return None
    if not isinstance(result, dict):
        raise InternalError("plugin ADD returned no result")
    from cni.conversion import convert

    return convert(result, args.cni_version, from_version=args.cni_version)


def plugin_main(
    *,
    add: Callable[[CmdArgs], object] | None = None,
    delete: Callable[[CmdArgs], object] | None = None,
    check: Callable[[CmdArgs], object] | None = None,
    gc: Callable[[CmdArgs], object] | None = None,
    status: Callable[[CmdArgs], object] | None = None,
    supported_versions: tuple[str, ...] = versions.ALL,
    about: str = "",
    env: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Runs a plugin made of these handlers for one invocation (the SDK for plugins outside
    this package; ours declare a :class:`Plugin` in the registry). Returns 0 or 1."""
    plugin = Plugin(
        "",
        add=add,
        delete=delete,
        check=check,
        gc=gc,
        status=status,
        about=about,
        supported_versions=supported_versions,
    )
    return run(plugin, env=env, stdin=stdin, stdout=stdout, stderr=stderr)


def run(
    plugin: Plugin,
    *,
    env: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Runs `plugin` for one invocation and returns the exit status (0 or 1).

    `env`, `stdin`, `stdout` and `stderr` default to the process's own.
    """
    own_process = env is None
    env = _posix.environ() if env is None else env
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    about, supported_versions = plugin.about, plugin.supported_versions
    try:
        output = dispatch(plugin, env, stdin, own_process=own_process)
    except CNIError as err:
        return _fail(err, env, stdout, stderr, about, supported_versions)
    except Exception as err:  # noqa: BLE001 - every failure must become the error JSON
        return _fail(_internal(err, stderr), env, stdout, stderr, about, supported_versions)
    except BaseException as err:
        # PyO3's PanicException derives from BaseException; a panic is still our bug.
        if type(err).__name__ != "PanicException":
            raise
        return _fail(_internal(err, stderr), env, stdout, stderr, about, supported_versions)
    if output is not None:
        _write_json(stdout, output)
    return 0


def _internal(err: BaseException, stderr: TextIO) -> CNIError:
    import traceback

    traceback.print_exception(err, file=stderr)
    first_line = str(err).splitlines()[0] if str(err) else ""
    return InternalError(f"internal error: {type(err).__name__}: {first_line}".rstrip(": "))


def _fail(
    err: CNIError,
    env: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    about: str,
    supported: tuple[str, ...],
) -> int:
    if not env.get("CNI_COMMAND") and about:
        # A person ran the binary by hand: say what it is.
        stderr.write(f"{about}\nCNI protocol versions supported: {', '.join(supported)}\n")
    # Like the Go skel, no cniVersion: the failure may be that the version is unknown.
    _write_json(stdout, err.to_dict())
    return 1
