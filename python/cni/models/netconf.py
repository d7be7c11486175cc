# SPDX-License-Identifier: Apache-2.0
"""Network configurations: the conflist, the legacy single-plugin file and plugin configs.

Field rules come from :mod:`cni.netconf` (the plugins' lean checker): every common key here
runs the same check function, so the two layers cannot drift apart. Unknown keys are kept
and passed through unchanged, as the spec requires.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr
from pydantic import ValidationError as _ValidationError

from cni import netconf as rules
from cni.errors import CNIError, DecodingFailure, InvalidNetworkConfig
from cni.models._errors import to_cni_error


def _rule(key: str) -> AfterValidator:
    """A pydantic validator that applies the lean checker's rule for `key`."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        problem = rules.field_problem(key, value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _check_type(value: str) -> str:
    problem = rules.plugin_type_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _bool_or_word(value: Any) -> Any:
    # libcni accepts disableCheck/disableGC as JSON booleans or the strings "true"/"false".
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


NetworkName = Annotated[StrictStr, _rule("name")]
PluginType = Annotated[StrictStr, AfterValidator(_check_type)]
FlexibleBool = Annotated[StrictBool, BeforeValidator(_bool_or_word)]

_MODEL = ConfigDict(extra="allow", populate_by_name=True, frozen=False)


class DNS(BaseModel):
    """DNS settings, in a config or a result."""

    model_config = _MODEL

    nameservers: list[StrictStr] | None = None
    domain: StrictStr | None = None
    search: list[StrictStr] | None = None
    options: list[StrictStr] | None = None


class IPAM(BaseModel):
    """The `ipam` section: its `type` names the IPAM plugin; other keys are that plugin's."""

    model_config = _MODEL

    type: PluginType | None = None


class PluginConf(BaseModel):
    """One plugin of a conflist, as written in the file (no `name` or `cniVersion` needed)."""

    model_config = _MODEL

    cni_version: StrictStr | None = Field(None, alias="cniVersion")
    name: NetworkName | None = None
    type: PluginType
    capabilities: Annotated[dict[str, StrictBool] | None, _rule("capabilities")] = None
    runtime_config: dict[str, Any] | None = Field(None, alias="runtimeConfig")
    args: dict[str, Any] | None = None
    ip_masq: StrictBool | None = Field(None, alias="ipMasq")
    ipam: IPAM | None = None
    dns: DNS | None = None
    prev_result: dict[str, Any] | None = Field(None, alias="prevResult")


class NetConf(PluginConf):
    """The config a plugin receives on stdin, or a legacy single-plugin `.conf` file."""

    name: NetworkName


class NetConfList(BaseModel):
    """A network configuration list (`.conflist`)."""

    model_config = _MODEL

    cni_version: StrictStr | None = Field(None, alias="cniVersion")
    cni_versions: list[StrictStr] | None = Field(None, alias="cniVersions")
    name: NetworkName
    disable_check: FlexibleBool = Field(False, alias="disableCheck")
    disable_gc: FlexibleBool = Field(False, alias="disableGC")
    load_only_inlined_plugins: StrictBool = Field(False, alias="loadOnlyInlinedPlugins")
    plugins: list[PluginConf] = Field(default_factory=list)


#: Which CNI error each top-level key's problems become (code 7 otherwise).
_CODES: dict[str, type[CNIError]] = {k: v[1] for k, v in rules.PLUGIN_FIELDS.items()}


def parse_netconf(data: object) -> NetConf:
    """Validates a plugin's request config, raising the same CNI error the plugins raise."""
    if not isinstance(data, dict):
        raise DecodingFailure("invalid config: expected a JSON object")
    try:
        model = NetConf.model_validate(data)
    except _ValidationError as err:
        raise to_cni_error(err, "config", _CODES) from None
    rules.check_control_characters(data)
    return model


def parse_conflist(data: object) -> NetConfList:
    """Validates a conflist; errors name the offending key and value (code 7)."""
    if not isinstance(data, dict):
        raise InvalidNetworkConfig("invalid conflist: expected a JSON object")
    try:
        return NetConfList.model_validate(data)
    except _ValidationError as err:
        raise to_cni_error(err, "conflist") from None
