// SPDX-License-Identifier: Apache-2.0
//! nf_tables rules as data: built by pure functions, emitted as nft text or sent as one
//! netlink batch (no `nft` process on this path).

pub mod apply;
pub mod batch;
pub mod condition;
pub mod expr;
pub mod rule;
pub mod socket;
pub mod wire;

pub use batch::{BaseChain, Batch, Chain, Element, Hook, Op, Set, Value};
pub use expr::Verdict;
pub use rule::{Dir, Family, Field, Proto, Rule, RuleBuilder};
pub use socket::{NftSocket, Refused};
