// SPDX-License-Identifier: Apache-2.0
//! Routes: the shape of a CNI result's route, adding (also in batches with a link's
//! addresses, [`Handle::configure`]), deleting and listing them.
//!
//! Message building ([`messages`]) is separate from I/O, so the bytes can be tested
//! without a kernel.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::socket::{Request, Result};

use super::handle::{family, Handle};
use super::link::LinkChange;

/// A route to add, in the shape of a CNI result's route.
#[derive(Debug, Clone, Default)]
pub struct RouteSpec {
    pub dst: Option<(IpAddr, u8)>,
    pub v6: bool,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub priority: Option<u32>,
    pub table: Option<u32>,
    pub scope: Option<u8>,
    pub mtu: Option<u32>,
    pub advmss: Option<u32>,
    /// RTA_PREFSRC: the source address a local socket picks for the route.
    pub prefsrc: Option<IpAddr>,
    /// The routing protocol that made it (RTPROT_*); ours (boot) when None.
    pub protocol: Option<u8>,
}

/// A route's destination for messages: `10.0.0.0/8`, or `default`.
fn route_name(spec: &RouteSpec) -> String {
    spec.dst
        .map_or_else(|| "default".to_owned(), |(d, p)| format!("{d}/{p}"))
}

/// A route the kernel holds (main fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub dst: Option<(IpAddr, u8)>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub priority: Option<u32>,
    pub table: u32,
    pub scope: u8,
    pub prefsrc: Option<IpAddr>,
    pub protocol: u8,
    /// RTN_*: unicast (1), local, broadcast, multicast, unreachable, ...
    pub kind: u8,
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Pure message builders (no I/O).
pub mod messages {
    use super::{
        family, AddressFamily, RouteAddress, RouteAttribute, RouteHeader, RouteMessage,
        RouteMetric, RouteNetlinkMessage, RouteProtocol, RouteScope, RouteSpec, RouteType,
    };

    /// A unicast route; main table unless `table` says otherwise.
    pub fn new_route(spec: &RouteSpec) -> RouteNetlinkMessage {
        let mut msg = RouteMessage::default();
        let table = spec.table.unwrap_or(254);
        msg.header = RouteHeader {
            address_family: if spec.v6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            destination_prefix_length: spec.dst.map_or(0, |(_, p)| p),
            table: u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC),
            protocol: spec
                .protocol
                .map_or(RouteProtocol::Boot, RouteProtocol::from),
            scope: spec.scope.map_or(
                if spec.gateway.is_some() || spec.dst.is_none() {
                    RouteScope::Universe
                } else {
                    RouteScope::Link
                },
                RouteScope::from,
            ),
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        if table > 255 {
            msg.attributes.push(RouteAttribute::Table(table));
        }
        if let Some((dst, _)) = spec.dst {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        }
        if let Some(gw) = spec.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        if let Some(oif) = spec.oif {
            msg.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(src) = spec.prefsrc {
            msg.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if let Some(priority) = spec.priority {
            msg.attributes.push(RouteAttribute::Priority(priority));
        }
        let mut metrics = Vec::new();
        if let Some(mtu) = spec.mtu {
            metrics.push(RouteMetric::Mtu(mtu));
        }
        if let Some(advmss) = spec.advmss {
            metrics.push(RouteMetric::Advmss(advmss));
        }
        if !metrics.is_empty() {
            msg.attributes.push(RouteAttribute::Metrics(metrics));
        }
        RouteNetlinkMessage::NewRoute(msg)
    }

    pub fn dump_routes(v6: bool) -> RouteNetlinkMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(v6);
        RouteNetlinkMessage::GetRoute(msg)
    }
}

impl Handle {
    /// Brings link `index` up (when `up`), adds `addresses` and adds or replaces `routes`
    /// through it, all in one batch: one send and one round of acknowledgements.
    ///
    /// # Errors
    /// The first failed step's [`NetlinkError`].
    pub fn configure(
        &mut self,
        index: u32,
        up: bool,
        addresses: &[(IpAddr, u8)],
        routes: &[RouteSpec],
    ) -> Result<()> {
        let mut requests = Vec::with_capacity(addresses.len() + routes.len() + 1);
        if up {
            let change = LinkChange {
                up: Some(true),
                ..LinkChange::default()
            };
            requests.push(Request {
                message: super::link::messages::set_link(index, &change),
                flags: 0,
                operation: format!("set link {index} up"),
            });
        }
        for &(ip, prefix) in addresses {
            requests.push(Request {
                message: super::address::messages::new_address(index, ip, prefix),
                flags: NLM_F_CREATE | NLM_F_EXCL,
                operation: format!("add address {ip}/{prefix} to link {index}"),
            });
        }
        for spec in routes {
            requests.push(Request {
                message: messages::new_route(&RouteSpec {
                    oif: Some(index),
                    ..spec.clone()
                }),
                flags: NLM_F_CREATE | NLM_F_REPLACE,
                operation: format!("add route {}", route_name(spec)),
            });
        }
        self.socket.request_batch(requests)
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST for an existing route unless `replace`).
    pub fn add_route(&mut self, spec: &RouteSpec, replace: bool) -> Result<()> {
        let flags = if replace {
            NLM_F_CREATE | NLM_F_REPLACE
        } else {
            NLM_F_CREATE | NLM_F_EXCL
        };
        self.socket.request(
            messages::new_route(spec),
            flags,
            &format!("add route {}", route_name(spec)),
        )
    }

    /// Deletes a route matching `spec` (destination, table, device).
    ///
    /// # Errors
    /// [`NetlinkError`] (ESRCH when there is no such route).
    pub fn del_route(&mut self, spec: &RouteSpec) -> Result<()> {
        let RouteNetlinkMessage::NewRoute(mut msg) = messages::new_route(spec) else {
            unreachable!("new_route builds a route message")
        };
        // The kernel matches a deletion on what is given; protocol and scope must not narrow it.
        msg.header.protocol = RouteProtocol::Unspec;
        if spec.scope.is_none() {
            msg.header.scope = RouteScope::NoWhere;
        }
        self.socket.request(
            RouteNetlinkMessage::DelRoute(msg),
            0,
            &format!("delete route {}", route_name(spec)),
        )
    }

    /// Every route of a family, all tables.
    ///
    /// # Errors
    /// [`NetlinkError`].
    pub fn routes(&mut self, v6: bool) -> Result<Vec<RouteInfo>> {
        let answer = self
            .socket
            .dump(&messages::dump_routes(v6), "list routes")?;
        let mut out = Vec::new();
        for m in answer {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                let mut info = RouteInfo {
                    dst: None,
                    gateway: None,
                    oif: None,
                    priority: None,
                    table: u32::from(r.header.table),
                    scope: u8::from(r.header.scope),
                    prefsrc: None,
                    protocol: u8::from(r.header.protocol),
                    kind: u8::from(r.header.kind),
                };
                for attr in &r.attributes {
                    match attr {
                        RouteAttribute::Destination(d) => {
                            info.dst =
                                route_ip(d).map(|ip| (ip, r.header.destination_prefix_length));
                        }
                        RouteAttribute::Gateway(g) => info.gateway = route_ip(g),
                        RouteAttribute::Oif(o) => info.oif = Some(*o),
                        RouteAttribute::Priority(p) => info.priority = Some(*p),
                        RouteAttribute::Table(t) => info.table = *t,
                        RouteAttribute::PrefSource(a) => info.prefsrc = route_ip(a),
                        _ => {}
                    }
                }
                out.push(info);
            }
        }
        Ok(out)
    }
}
