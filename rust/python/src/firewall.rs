// SPDX-License-Identifier: Apache-2.0
//! Firewall rule text for Python (applied with `nft -f -` by the plugins).

use pyo3::prelude::*;

use super::errors::{Error, Result};

use cni_core::firewall::spoofcheck;

/// The nft transaction that sets up `macspoofchk` for one bridge port.
#[pyfunction]
pub fn spoofcheck_setup(
    host_iface: &str,
    mac: &str,
    container_id: &str,
    ifname: &str,
) -> Result<String> {
    spoofcheck::setup_script(host_iface, mac, &spoofcheck::ref_id(container_id, ifname))
        .map_err(Error::value)
}

/// The nft transaction that removes it: the PREROUTING jumps (rule handles) and the chains.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts arguments as owned values
pub fn spoofcheck_teardown(
    container_id: &str,
    ifname: &str,
    jump_handles: Vec<u64>,
    chains_exist: bool,
) -> Result<String> {
    spoofcheck::teardown_script(
        &spoofcheck::ref_id(container_id, ifname),
        &jump_handles,
        chains_exist,
    )
    .map_err(Error::value)
}
