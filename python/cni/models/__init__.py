# SPDX-License-Identifier: Apache-2.0
"""pydantic models of the CNI wire formats: configs, results, VERSION and errors.

These are the spec layer for the runtime library, the CLI and the public API. Plugins do
not import them (pydantic costs 100+ ms per exec); they use :mod:`cni.netconf` and
:mod:`cni.conversion`, whose check functions these models call, so both layers agree.
"""

from cni.models.netconf import (
    DNS,
    IPAM,
    NetConf,
    NetConfList,
    PluginConf,
    parse_conflist,
    parse_netconf,
)
from cni.models.result import (
    ErrorResult,
    Interface,
    IPConfig,
    Result,
    Route,
    VersionResult,
    parse_result,
)

__all__ = [
    "DNS",
    "IPAM",
    "ErrorResult",
    "IPConfig",
    "Interface",
    "NetConf",
    "NetConfList",
    "PluginConf",
    "Result",
    "Route",
    "VersionResult",
    "parse_conflist",
    "parse_netconf",
    "parse_result",
]
