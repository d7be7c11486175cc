// SPDX-License-Identifier: Apache-2.0
//! Firewall rules as data (pure functions from a config and a result), the nf_tables batch
//! that applies them, and the iptables-restore text of the iptables backend.

pub mod forward;
pub mod iptables;
pub mod masq;
pub mod names;
pub mod nft;
pub mod portmap;
pub mod spoofcheck;
