// SPDX-License-Identifier: Apache-2.0
//! Addresses of links: adding, deleting and listing them.
//!
//! Message building ([`messages`]) is separate from I/O, so the bytes can be tested
//! without a kernel.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::socket::Result;

use super::handle::Handle;

/// Pure message builders (no I/O).
pub mod messages {
    use super::{AddressAttribute, AddressFamily, AddressMessage, IpAddr, RouteNetlinkMessage};

    /// An address on link `index`; IPv4 gets its broadcast address, as `ip addr add` does.
    pub fn new_address(index: u32, ip: IpAddr, prefix: u8) -> RouteNetlinkMessage {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = prefix;
        match ip {
            IpAddr::V4(v4) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(ip));
                msg.attributes.push(AddressAttribute::Address(ip));
                if prefix < 31 {
                    let host = u32::MAX >> prefix;
                    msg.attributes
                        .push(AddressAttribute::Broadcast((u32::from(v4) | host).into()));
                }
            }
            IpAddr::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.attributes.push(AddressAttribute::Address(ip));
            }
        }
        RouteNetlinkMessage::NewAddress(msg)
    }

    /// Removes an address from link `index`.
    pub fn del_address(index: u32, ip: IpAddr, prefix: u8) -> RouteNetlinkMessage {
        let RouteNetlinkMessage::NewAddress(msg) = new_address(index, ip, prefix) else {
            unreachable!("new_address builds an address message")
        };
        RouteNetlinkMessage::DelAddress(msg)
    }

    pub fn dump_addresses() -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetAddress(AddressMessage::default())
    }
}

impl Handle {
    /// # Errors
    /// [`NetlinkError`] (EEXIST when the address is already there).
    pub fn add_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> Result<()> {
        self.create(
            messages::new_address(index, ip, prefix),
            &format!("add address {ip}/{prefix} to link {index}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (EADDRNOTAVAIL when the address is not there).
    pub fn del_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> Result<()> {
        self.socket.request(
            messages::del_address(index, ip, prefix),
            0,
            &format!("remove address {ip}/{prefix} from link {index}"),
        )
    }

    /// `(link index, address, prefix length)` of every address.
    ///
    /// # Errors
    /// [`NetlinkError`].
    pub fn addresses(&mut self) -> Result<Vec<(u32, IpAddr, u8)>> {
        let answer = self
            .socket
            .dump(&messages::dump_addresses(), "list addresses")?;
        let mut out = Vec::new();
        for m in answer {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                let ip = a.attributes.iter().find_map(|attr| match attr {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let ip = ip.or_else(|| {
                    a.attributes.iter().find_map(|attr| match attr {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })
                });
                if let Some(ip) = ip {
                    out.push((a.header.index, ip, a.header.prefix_len));
                }
            }
        }
        Ok(out)
    }
}
