# SPDX-License-Identifier: Apache-2.0
"""The CNI error object and one exception class per spec error code.

Plugins raise these; the plugin SDK prints them as the spec's error JSON on stdout. The
runtime library raises them when a plugin fails, rebuilt from the plugin's JSON by
:func:`error_from_dict`. The Rust extension raises the same classes, so callers catch one
definition. This module is on every plugin's start-up path: it imports nothing.
"""

from __future__ import annotations

__all__ = [
    "AddressExhausted",
    "AddressInUse",
    "AddressOutOfRange",
    "CNIError",
    "DecodingFailure",
    "IOFailure",
    "IncompatibleCNIVersion",
    "InternalError",
    "InvalidEnvironmentVariables",
    "InvalidNetNS",
    "InvalidNetworkConfig",
    "InvalidValue",
    "LimitedConnectivity",
    "NetlinkError",
    "PluginNotAvailable",
    "TryAgainLater",
    "UnknownContainer",
    "UnsupportedField",
    "error_from_dict",
]


class CNIError(Exception):
    """A failure with a CNI error code, a message and optional details.

    Instances of the base class carry any code (for codes 100 and above, which are
    plugin-specific); the subclasses fix the code of each error the spec names.
    """

    code: int = 999

    def __init__(self, msg: str, details: str = "", *, code: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.msg}; {self.details}" if self.details else self.msg

    def to_dict(self, cni_version: str | None = None) -> dict[str, object]:
        """The spec's error object; `cniVersion` is included when known."""
        out: dict[str, object] = {}
        if cni_version:
            out["cniVersion"] = cni_version
        out["code"] = self.code
        out["msg"] = self.msg
        if self.details:
            out["details"] = self.details
        return out


class IncompatibleCNIVersion(CNIError):
    """Code 1: the config's version is not one the plugin (or runtime) supports."""

    code = 1


class UnsupportedField(CNIError):
    """Code 2: a config field the plugin does not support; the message names key and value."""

    code = 2


class UnknownContainer(CNIError):
    """Code 3: the container is unknown; the runtime need not call DEL."""

    code = 3


class InvalidEnvironmentVariables(CNIError):
    """Code 4: missing or invalid CNI_* variables; the message names them."""

    code = 4


class IOFailure(CNIError):
    """Code 5: reading input or writing output failed, or input exceeded a bound."""

    code = 5


class NetlinkError(IOFailure):
    """Code 5: a netlink operation failed; `errno` and `operation` say which and why."""

    def __init__(self, msg: str, errno: int = 0, operation: str = "") -> None:
        super().__init__(msg)
        self.errno = errno
        self.operation = operation


class DecodingFailure(CNIError):
    """Code 6: input could not be decoded (JSON, version strings)."""

    code = 6


class InvalidNetworkConfig(CNIError):
    """Code 7: the network configuration is invalid."""

    code = 7


class InvalidNetNS(CNIError):
    """Code 8: CNI_NETNS is not a usable network namespace (not in the spec's table; Go's)."""

    code = 8


class TryAgainLater(CNIError):
    """Code 11: a transient failure; the runtime may retry."""

    code = 11


class PluginNotAvailable(CNIError):
    """Code 50 (STATUS): the plugin cannot serve ADD requests."""

    code = 50


class LimitedConnectivity(CNIError):
    """Code 51 (STATUS): not available, and existing containers may be degraded."""

    code = 51


class AddressExhausted(CNIError):
    """Code 11: no free address left in a range set (addresses return as attachments go)."""

    code = 11


class AddressInUse(CNIError):
    """Code 7: the requested address is already reserved."""

    code = 7


class AddressOutOfRange(InvalidNetworkConfig, ValueError):
    """Code 7: the address cannot be given out here (outside the range, the gateway,
    the network or broadcast address, or the other family)."""


class InvalidValue(InvalidNetworkConfig, ValueError):
    """Code 7: a value the Rust core cannot take (an address, a CIDR, a MAC, a name). Also a
    ValueError, which is what a Python caller of the allocator or netlink API expects."""


class InternalError(CNIError):
    """Code 999: an unexpected failure inside the plugin or the library."""

    code = 999


_BY_CODE: dict[int, type[CNIError]] = {
    cls.code: cls
    for cls in (
        IncompatibleCNIVersion,
        UnsupportedField,
        UnknownContainer,
        InvalidEnvironmentVariables,
        IOFailure,
        DecodingFailure,
        InvalidNetworkConfig,
        InvalidNetNS,
        TryAgainLater,
        PluginNotAvailable,
        LimitedConnectivity,
        InternalError,
    )
}


def error_from_dict(obj: dict[str, object]) -> CNIError:
    """Rebuilds the exception a plugin printed, as the class of its code."""
    code = obj.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        code = 999
    msg = obj.get("msg")
    details = obj.get("details")
    cls = _BY_CODE.get(code, CNIError)
    return cls(str(msg) if msg is not None else "", str(details) if details else "", code=code)
