// SPDX-License-Identifier: Apache-2.0
//! A handle on rtnetlink in one namespace; its operations live with their objects
//! ([`super::link`], [`super::address`], [`super::route`], [`super::rule`]).

use netlink_packet_route::AddressFamily;

use super::socket::{NetlinkSocket, Result};
/// rtnetlink operations on one socket (one namespace).
pub struct Handle {
    pub(super) socket: NetlinkSocket,
    /// Where the socket lives, for the sockets of detached requests.
    pub(super) netns: Option<String>,
}

impl Handle {
    /// # Errors
    /// As [`NetlinkSocket::open`].
    pub fn open(netns: Option<&str>) -> Result<Self> {
        Ok(Handle {
            socket: NetlinkSocket::open(netns)?,
            netns: netns.map(str::to_owned),
        })
    }
}

pub(super) fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}
