# SPDX-License-Identifier: Apache-2.0
"""DHCP for the `dhcp` IPAM plugin: the DHCPv4 messages (`packet`), one client lease's
exchanges inside a pod's namespace (`client`) and the long-running daemon that keeps the
leases and renews them (`daemon`, `cni dhcp daemon`).

The plugin and the daemon speak JSON over the daemon's unix socket (the reference's path,
`/run/cni/dhcp.sock`). The reference's plugin and daemon speak Go's net/rpc (gob over
HTTP), which this package does not implement: our daemon answers a reference plugin with
an HTTP error that names the mismatch, and our plugin reports a reference daemon so.
"""

DEFAULT_SOCKET = "/run/cni/dhcp.sock"
DEFAULT_STATE_DIR = "/var/lib/cni/dhcp"


def pending_dir(socket_path: str) -> str:
    """Where the plugin leaves a DEL it could not hand to a daemon, for the next one."""
    return socket_path + ".pending"
