// SPDX-License-Identifier: Apache-2.0
//! rtnetlink for the interface plugins, one file per object: [`link`], [`address`],
//! [`route`], [`rule`], [`tc`] (qdiscs and filters), plus [`sysctl`]s under `/proc/sys/net/`
//! and persistent [`tap`]s.
//! Each builds its messages apart from I/O and adds its operations to [`Handle`], a
//! synchronous socket bound to one namespace ([`socket`], [`ns`]).

pub mod address;
pub mod conntrack;
pub mod handle;
pub mod link;
pub mod ns;
pub mod route;
pub mod rule;
pub mod socket;
pub mod sysctl;
pub mod tap;
pub mod tc;

#[cfg(test)]
mod tests;

pub use handle::Handle;
pub use link::{BridgePortFlag, Link, LinkChange, LinkKind, LowerLink, SimpleKind, StackedKind};
pub use route::{RouteInfo, RouteSpec};
pub use rule::RuleSpec;
pub use socket::NetlinkError;
