// SPDX-License-Identifier: Apache-2.0
//! Firewall rule generation (text for `nft -f -`), pure functions with no I/O.

pub mod spoofcheck;
