// SPDX-License-Identifier: Apache-2.0
//! Rust core of the `cni` package: strict JSON, netlink, the address allocator,
//! firewall rules, the warm plugin path's wire protocol and its workers' pages.
//!
//! This crate knows nothing of Python: the PyO3 glue is the `cni-python` crate of the
//! workspace (`rust/python`), so `cargo test -p cni-core` runs without libpython.

pub mod detached;
pub mod firewall;
pub mod ipam;
pub mod json;
pub mod net;
pub mod netlink;
pub mod pages;
pub mod warm;
