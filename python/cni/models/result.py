# SPDX-License-Identifier: Apache-2.0
"""Results in every wire version, the VERSION result and the error object.

:class:`Result` is the 1.1.0 shape, which every version converts to and from (the rules
live in :mod:`cni.conversion`, shared with the plugins). Older wire shapes are validated by
their own models before conversion, so a malformed 0.2.0 or 0.4.0 result is refused with a
message that names the key and the value.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, StrictStr, model_validator
from pydantic import ValidationError as _ValidationError

from cni import conversion, versions
from cni.errors import DecodingFailure, IncompatibleCNIVersion
from cni.models._errors import to_cni_error
from cni.models.netconf import DNS


def _cidr(value: str) -> str:
    # Go's net.ParseCIDR: an address with a prefix length; host bits may be set.
    if "/" not in value:
        raise ValueError("must be an address with a prefix length (CIDR)")
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError("is not a valid CIDR") from None
    return value


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("is not a valid IP address") from None
    return value


CIDR = Annotated[StrictStr, AfterValidator(_cidr)]
IP = Annotated[StrictStr, AfterValidator(_ip)]
NonNegative = Annotated[StrictInt, Field(ge=0)]

# Keys a result model does not know are dropped, as Go's decoder drops them in libcni: a
# runtime takes every result the spec allows, and a third-party plugin that adds a field
# keeps working (its field does not reach the next plugin's prevResult, as with libcni).
_MODEL = ConfigDict(extra="ignore", populate_by_name=True)
_LEGACY_VERSIONS = ("0.1.0", "0.2.0")


class Interface(BaseModel):
    """An interface the plugin created or configured; `sandbox` is its netns path."""

    model_config = _MODEL

    name: StrictStr
    mac: StrictStr | None = None
    mtu: NonNegative | None = None
    sandbox: StrictStr | None = None
    socket_path: StrictStr | None = Field(None, alias="socketPath")
    pci_id: StrictStr | None = Field(None, alias="pciID")


class IPConfig(BaseModel):
    """An address given to an interface (`interface` indexes `interfaces`)."""

    model_config = _MODEL

    address: CIDR
    gateway: IP | None = None
    interface: NonNegative | None = None


class Route(BaseModel):
    """A route; the 1.1.0 fields are optional and `table`/`scope` may be 0."""

    model_config = _MODEL

    dst: CIDR
    gw: IP | None = None
    mtu: NonNegative | None = None
    advmss: NonNegative | None = None
    priority: NonNegative | None = None
    table: NonNegative | None = None
    scope: NonNegative | None = None


class Result(BaseModel):
    """A result in the 1.0.0/1.1.0 shape."""

    model_config = _MODEL

    cni_version: StrictStr = Field(versions.CURRENT, alias="cniVersion")
    interfaces: list[Interface] = Field(default_factory=list)
    ips: list[IPConfig] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    dns: DNS | None = None
    # The 0.1.0/0.2.0 wire form a result came in, when it came in one.
    _legacy: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _interface_indexes(self) -> Result:
        if self.interfaces:
            for n, ip in enumerate(self.ips):
                if ip.interface is not None and ip.interface >= len(self.interfaces):
                    raise ValueError(f"ips.{n}.interface {ip.interface} names no entry of interfaces")
        return self

    def to_dict(self, version: str | None = None) -> dict[str, Any]:
        """The wire form in `version` (default: this result's own version)."""
        target = version or self.cni_version
        if self._legacy is not None and target in _LEGACY_VERSIONS:
            # A 0.1.0/0.2.0 result may hold only DNS, which has no 1.x form that converts
            # back (1.x to 0.2.0 needs an address); within the family libcni only relabels.
            return conversion.convert(self._legacy, target)
        data = self.model_dump(by_alias=True, exclude_none=True)
        data = {k: v for k, v in data.items() if v not in ([], {})}
        # The model holds the 1.x shape whatever version it came in.
        data["cniVersion"] = versions.CURRENT
        return conversion.convert(data, target)


class _Result04IP(IPConfig):
    version: Literal["4", "6"]


class _Result04(BaseModel):
    model_config = _MODEL

    cni_version: StrictStr = Field(alias="cniVersion")
    interfaces: list[Interface] = Field(default_factory=list)
    ips: list[_Result04IP] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    dns: DNS | None = None


class _Result02IP(BaseModel):
    model_config = _MODEL

    ip: CIDR
    gateway: IP | None = None
    routes: list[Route] = Field(default_factory=list)


class _Result02(BaseModel):
    model_config = _MODEL

    cni_version: StrictStr = Field(versions.DEFAULT, alias="cniVersion")
    ip4: _Result02IP | None = None
    ip6: _Result02IP | None = None
    dns: DNS | None = None


_WIRE_MODELS: dict[str, type[BaseModel]] = {
    **dict.fromkeys(("0.1.0", "0.2.0"), _Result02),
    **dict.fromkeys(("0.3.0", "0.3.1", "0.4.0"), _Result04),
    **dict.fromkeys(("1.0.0", "1.1.0"), Result),
}


def parse_result(data: object, *, default_version: str = versions.DEFAULT) -> Result:
    """Validates a result in any wire version and returns it in the 1.1.0 shape.

    `default_version` is the version of a result that carries none (libcni stamps the
    config's version on such results). The returned model keeps the original version in
    `cni_version`, so `to_dict()` gives it back in the shape it came in.
    """
    if not isinstance(data, dict):
        raise DecodingFailure("invalid result: expected a JSON object")
    version = data.get("cniVersion") or default_version
    if not isinstance(version, str) or version not in _WIRE_MODELS:
        raise IncompatibleCNIVersion(f"invalid result: unsupported cniVersion {version!r}")
    try:
        _WIRE_MODELS[version].model_validate({**data, "cniVersion": version})
        upgraded = conversion.convert({**data, "cniVersion": version}, versions.CURRENT)
        model = Result.model_validate(upgraded)
    except _ValidationError as err:
        raise to_cni_error(err, "result", {k: DecodingFailure for k in ("cniVersion",)}) from None
    model.cni_version = version
    if version in _LEGACY_VERSIONS:
        model._legacy = conversion.convert({**data, "cniVersion": version}, version)
    return model


class VersionResult(BaseModel):
    """The answer to VERSION."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    cni_version: StrictStr = Field(alias="cniVersion")
    supported_versions: list[StrictStr] = Field(default_factory=list, alias="supportedVersions")


class ErrorResult(BaseModel):
    """The error object a plugin prints on stdout when it fails."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    cni_version: StrictStr | None = Field(None, alias="cniVersion")
    code: NonNegative
    msg: StrictStr
    details: StrictStr | None = None
