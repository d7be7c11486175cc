// SPDX-License-Identifier: Apache-2.0
//! The PyO3 glue: the only place that knows about Python. It converts between Python
//! objects and core types and maps core errors to the exception classes of `cni.errors`.

mod errors;
mod firewall;
mod ipam;
mod json;
mod netlink;
mod warm;

use pyo3::prelude::*;

/// `cni._native`: the private extension module. Its typed surface is `_native.pyi`.
#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::firewall::{
        conntrack_flush_udp_ports, isolation_iptables, masq_iptables_del, nft_usable,
        portmap_iptables_del, portmap_iptables_stale, spoofcheck_setup, spoofcheck_teardown,
        PyForwardRules, PyMasqRules, PyNftBatch, PyPortmapRules,
    };
    #[pymodule_export]
    use super::ipam::{
        cidr_has, network_of, parse_cidr_text, parse_ip_text, PyAddressPool, PyIPAllocator,
        PyRangeSet,
    };
    #[pymodule_export]
    use super::json::{dumps, loads};
    #[pymodule_export]
    use super::netlink::{
        create_tap, encode_veth_setup, write_sysctl, PyLink, PyNetlink, PyRoute, PyRule,
    };
    #[pymodule_export]
    use super::warm::{
        enter_namespaces, warm_encode, warm_finished, warm_header, warm_request, warm_watch,
    };
}
