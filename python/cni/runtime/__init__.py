# SPDX-License-Identifier: Apache-2.0
"""The runtime library (libcni's equivalent): load networks and run their plugins.

from cni.runtime import CNIConfig, RuntimeConf, load_dir

network = load_dir("/etc/cni/net.d").get("mynet")
cni = CNIConfig(["/opt/cni/bin"])
result = cni.add_network_list(network, RuntimeConf("ctr1", "/run/netns/ctr1", "eth0"))
"""

from cni.runtime.api import CNIConfig, CNIErrorGroup, RuntimeConf
from cni.runtime.cache import CachedAttachment, ResultCache
from cni.runtime.conflist import LoadedConfigs, NetworkConfigList, conflist_from_bytes, conflist_from_conf, load_dir

__all__ = [
    "CNIConfig",
    "CNIErrorGroup",
    "CachedAttachment",
    "LoadedConfigs",
    "NetworkConfigList",
    "ResultCache",
    "RuntimeConf",
    "conflist_from_bytes",
    "conflist_from_conf",
    "load_dir",
]
