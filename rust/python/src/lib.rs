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
        bandwidth_ifb_name, create_tap, encode_veth_setup, read_sysctls, socket_in_netns,
        sysctl_path, tbf_shaping, write_sysctl, write_sysctls, PyLink, PyNetlink, PyRoute, PyRule,
    };
    // The warm path's protocol numbers, so the agent does not restate them.
    #[pymodule_export]
    const WARM_HEADER_LEN: usize = cni_core::warm::HEADER_LEN;
    #[pymodule_export]
    const WARM_FRAME_LEN: usize = cni_core::warm::FRAME_LEN;
    #[pymodule_export]
    const WARM_FDS: usize = cni_core::warm::FDS;
    #[pymodule_export]
    const WARM_PROTOCOL: u16 = cni_core::warm::PROTOCOL;
    #[pymodule_export]
    const WARM_REFUSED: u32 = cni_core::warm::REFUSED;
    #[pymodule_export]
    const WARM_EXIT: u32 = cni_core::warm::EXIT;
    #[pymodule_export]
    const REFUSE_BAD_REQUEST: i32 = cni_core::warm::Refusal::BadRequest as i32;
    #[pymodule_export]
    const REFUSE_VERSION: i32 = cni_core::warm::Refusal::Version as i32;
    #[pymodule_export]
    const REFUSE_UNKNOWN_PLUGIN: i32 = cni_core::warm::Refusal::UnknownPlugin as i32;
    #[pymodule_export]
    const REFUSE_CALLER: i32 = cni_core::warm::Refusal::Caller as i32;
    #[pymodule_export]
    const REFUSE_PRIVILEGES: i32 = cni_core::warm::Refusal::Privileges as i32;
    #[pymodule_export]
    const REFUSE_NAMESPACES: i32 = cni_core::warm::Refusal::Namespaces as i32;
    #[pymodule_export]
    use super::warm::{
        enter_namespaces, warm_encode, warm_finished, warm_header, warm_pages_populate,
        warm_pages_sizes, warm_pages_touched, warm_pages_union, warm_request, warm_watch,
    };
}
