// SPDX-License-Identifier: Apache-2.0
//! rtnetlink for the interface plugins: message building (netlink-packet-route), a
//! synchronous socket bound to a namespace, and sysctls under `/proc/sys/net/`.

pub mod ns;
pub mod ops;
pub mod socket;

pub use ops::{
    BridgePortFlag, Handle, Link, LinkChange, LowerLink, RouteInfo, RouteSpec, RuleSpec,
};
pub use socket::NetlinkError;
