// SPDX-License-Identifier: Apache-2.0
//! Rust core of the `cni` package.
//!
//! Core modules know nothing of Python; the PyO3 glue lives in `py/` behind the `python`
//! feature, so `cargo test` exercises the core without libpython.

pub mod firewall;
pub mod ipam;
pub mod json;
pub mod netlink;

#[cfg(feature = "python")]
mod py;
