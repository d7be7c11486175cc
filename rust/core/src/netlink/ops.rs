// SPDX-License-Identifier: Apache-2.0
//! The rtnetlink operations the interface plugins need, on top of [`NetlinkSocket`].
//!
//! Message building is separate from I/O ([`messages`]) so the bytes can be tested and
//! benchmarked without a kernel.

use std::net::IpAddr;
use std::os::fd::RawFd;

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoData, InfoIpVlan, InfoKind,
    InfoMacVlan, InfoVeth, InfoVlan, InfoVrf, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::socket::{NetlinkError, NetlinkSocket, Request, Result};

/// What we report about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub mac: Vec<u8>,
    pub up: bool,
    pub promisc: bool,
    pub allmulti: bool,
    pub master: Option<u32>,
    pub kind: Option<String>,
    pub alias: Option<String>,
    pub txqlen: u32,
}

/// Changes to apply to a link; `None` leaves an attribute alone.
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub promisc: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
    /// Some(0) detaches the link from its master.
    pub master: Option<u32>,
    pub netns_fd: Option<RawFd>,
    pub name: Option<String>,
    pub alias: Option<String>,
    pub txqlen: Option<u32>,
    pub allmulti: Option<bool>,
}

/// A macvlan, ipvlan or vlan link stacked on `master` (an index in the socket's namespace).
#[derive(Debug, Clone, Default)]
pub struct LowerLink<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub master: u32,
    /// macvlan or ipvlan mode; `None` is the reference's default (bridge, l2).
    pub mode: Option<&'a str>,
    pub vlan_id: u16,
    /// Create the link directly in this namespace.
    pub netns_fd: Option<RawFd>,
    pub mtu: u32,
    pub mac: Option<&'a [u8]>,
    /// macvlan: length of the broadcast queue (0: the kernel's default).
    pub bc_queue_len: u32,
}

/// Boolean bridge-port flags, by their kernel attribute number (`IFLA_BRPORT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgePortFlag {
    /// Hairpin: frames may go back out the port they came in on.
    Hairpin = 4,
    /// Isolated: no traffic with other isolated ports.
    Isolated = 33,
}

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
}

/// A route's destination for messages: `10.0.0.0/8`, or `default`.
fn route_name(spec: &RouteSpec) -> String {
    spec.dst
        .map_or_else(|| "default".to_owned(), |(d, p)| format!("{d}/{p}"))
}

/// A policy-routing rule (`ip rule`): packets that match every given selector look up
/// `table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub v6: bool,
    pub priority: Option<u32>,
    pub table: u32,
    pub src: Option<(IpAddr, u8)>,
    pub dst: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
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
}

/// Pure message builders (no I/O).
pub mod messages {
    use super::{
        AddressAttribute, AddressFamily, AddressMessage, AfSpecBridge, BridgePortFlag,
        BridgeVlanInfo, BridgeVlanInfoFlags, DefaultNla, InfoBridge, InfoData, InfoIpVlan,
        InfoKind, InfoMacVlan, InfoVeth, InfoVlan, InfoVrf, IpAddr, IpVlanMode, LinkAttribute,
        LinkChange, LinkFlags, LinkInfo, LinkMessage, LowerLink, MacVlanMode, RawFd, RouteAddress,
        RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteNetlinkMessage, RouteProtocol,
        RouteScope, RouteSpec, RouteType, RuleAction, RuleAttribute, RuleMessage, RuleSpec,
    };

    fn kind(kind: InfoKind) -> LinkAttribute {
        LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)])
    }

    /// A veth pair; the peer is created directly in the namespace `peer_netns_fd` if given.
    pub fn new_veth(
        name: &str,
        peer: &str,
        peer_netns_fd: Option<RawFd>,
        mtu: u32,
        mac: Option<&[u8]>,
        peer_mac: Option<&[u8]>,
    ) -> RouteNetlinkMessage {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        if mtu > 0 {
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = peer_mac {
            peer_msg
                .attributes
                .push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(fd) = peer_netns_fd {
            peer_msg.attributes.push(LinkAttribute::NetNsFd(fd));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        RouteNetlinkMessage::NewLink(msg)
    }

    /// A link of a kind that needs no parameters beyond a name and MTU (bridge, dummy, ifb).
    pub fn new_simple(
        kind_name: &str,
        name: &str,
        mtu: u32,
        vlan_filtering: bool,
    ) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        let info_kind = match kind_name {
            "bridge" => InfoKind::Bridge,
            "dummy" => InfoKind::Dummy,
            "ifb" => InfoKind::Ifb,
            other => InfoKind::Other(other.to_owned()),
        };
        if kind_name == "bridge" && vlan_filtering {
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(info_kind),
                LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::VlanFiltering(true)])),
            ]));
        } else {
            msg.attributes.push(kind(info_kind));
        }
        RouteNetlinkMessage::NewLink(msg)
    }

    /// A link stacked on `master` (macvlan, ipvlan or vlan), created directly inside the
    /// namespace `netns_fd` when given. `mode` is the macvlan/ipvlan mode; `vlan_id` the VLAN.
    ///
    /// # Errors
    /// A message naming an unknown kind or mode.
    #[allow(clippy::too_many_arguments)]
    pub fn new_lower(link: &LowerLink<'_>) -> Result<RouteNetlinkMessage, String> {
        let info = match link.kind {
            "macvlan" => {
                let mode = match link.mode.unwrap_or("bridge") {
                    "bridge" => MacVlanMode::Bridge,
                    "private" => MacVlanMode::Private,
                    "vepa" => MacVlanMode::Vepa,
                    "passthru" => MacVlanMode::Passthrough,
                    other => return Err(format!("unknown macvlan mode {other:?}")),
                };
                let mut data = vec![InfoMacVlan::Mode(mode)];
                if link.bc_queue_len > 0 {
                    data.push(InfoMacVlan::BcQueueLen(link.bc_queue_len));
                }
                vec![
                    LinkInfo::Kind(InfoKind::MacVlan),
                    LinkInfo::Data(InfoData::MacVlan(data)),
                ]
            }
            "ipvlan" => {
                let mode = match link.mode.unwrap_or("l2") {
                    "l2" => IpVlanMode::L2,
                    "l3" => IpVlanMode::L3,
                    "l3s" => IpVlanMode::L3S,
                    other => return Err(format!("unknown ipvlan mode {other:?}")),
                };
                vec![
                    LinkInfo::Kind(InfoKind::IpVlan),
                    LinkInfo::Data(InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)])),
                ]
            }
            "vlan" => vec![
                LinkInfo::Kind(InfoKind::Vlan),
                LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(link.vlan_id)])),
            ],
            other => return Err(format!("unknown link kind {other:?}")),
        };
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(link.name.to_owned()));
        msg.attributes.push(LinkAttribute::Link(link.master));
        if link.mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(link.mtu));
        }
        if let Some(mac) = link.mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(fd) = link.netns_fd {
            msg.attributes.push(LinkAttribute::NetNsFd(fd));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(info));
        Ok(RouteNetlinkMessage::NewLink(msg))
    }

    /// Changes to link `index`.
    pub fn set_link(index: u32, change: &LinkChange) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        for (wanted, flag) in [
            (change.up, LinkFlags::Up),
            (change.promisc, LinkFlags::Promisc),
            (change.allmulti, LinkFlags::Allmulti),
        ] {
            if let Some(on) = wanted {
                msg.header.change_mask |= flag;
                if on {
                    msg.header.flags |= flag;
                }
            }
        }
        if let Some(mtu) = change.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = &change.mac {
            msg.attributes.push(LinkAttribute::Address(mac.clone()));
        }
        if let Some(master) = change.master {
            msg.attributes.push(LinkAttribute::Controller(master));
        }
        if let Some(fd) = change.netns_fd {
            msg.attributes.push(LinkAttribute::NetNsFd(fd));
        }
        if let Some(name) = &change.name {
            msg.attributes.push(LinkAttribute::IfName(name.clone()));
        }
        if let Some(alias) = &change.alias {
            msg.attributes.push(LinkAttribute::IfAlias(alias.clone()));
        }
        if let Some(txqlen) = change.txqlen {
            msg.attributes.push(LinkAttribute::TxQueueLen(txqlen));
        }
        RouteNetlinkMessage::SetLink(msg)
    }

    /// A boolean flag of bridge port `index` (IFLA_PROTINFO / IFLA_BRPORT_*).
    pub fn set_bridge_port(index: u32, flag: BridgePortFlag, on: bool) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
            netlink_packet_route::link::LinkProtoInfoBridge::Other(DefaultNla::new(
                flag as u16,
                vec![u8::from(on)],
            )),
        ]));
        RouteNetlinkMessage::SetLink(msg)
    }

    /// Adds (or removes) VLAN `vid` on bridge port `index`; `pvid`/`untagged` make it the
    /// port's access VLAN.
    pub fn bridge_vlan(
        index: u32,
        vid: u16,
        pvid: bool,
        untagged: bool,
        add: bool,
    ) -> RouteNetlinkMessage {
        let mut flags = BridgeVlanInfoFlags::empty();
        if pvid {
            flags |= BridgeVlanInfoFlags::Pvid;
        }
        if untagged {
            flags |= BridgeVlanInfoFlags::Untagged;
        }
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::AfSpecBridge(vec![AfSpecBridge::VlanInfo(
                BridgeVlanInfo { flags, vid },
            )]));
        if add {
            RouteNetlinkMessage::SetLink(msg)
        } else {
            RouteNetlinkMessage::DelLink(msg)
        }
    }

    pub fn del_link(index: u32) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        RouteNetlinkMessage::DelLink(msg)
    }

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
            protocol: RouteProtocol::Boot,
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

    pub fn get_link(name: &str) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        RouteNetlinkMessage::GetLink(msg)
    }

    pub fn dump_links() -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetLink(LinkMessage::default())
    }

    pub fn dump_addresses() -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetAddress(AddressMessage::default())
    }

    pub fn dump_routes(v6: bool) -> RouteNetlinkMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(v6);
        RouteNetlinkMessage::GetRoute(msg)
    }

    /// A rule as RTM_NEWRULE (the caller picks NEWRULE or DELRULE by its flags' use).
    pub fn new_rule(spec: &RuleSpec) -> RuleMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family(spec.v6);
        msg.header.action = RuleAction::ToTable;
        // Tables above 255 only fit the attribute; the header then says RT_TABLE_COMPAT.
        msg.header.table = u8::try_from(spec.table).unwrap_or(252);
        msg.attributes.push(RuleAttribute::Table(spec.table));
        if let Some(priority) = spec.priority {
            msg.attributes.push(RuleAttribute::Priority(priority));
        }
        if let Some((ip, prefix)) = spec.src {
            msg.header.src_len = prefix;
            msg.attributes.push(RuleAttribute::Source(ip));
        }
        if let Some((ip, prefix)) = spec.dst {
            msg.header.dst_len = prefix;
            msg.attributes.push(RuleAttribute::Destination(ip));
        }
        if let Some(iif) = &spec.iif {
            msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
        }
        if let Some(oif) = &spec.oif {
            msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
        }
        msg
    }

    pub fn dump_rules(v6: bool) -> RouteNetlinkMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family(v6);
        RouteNetlinkMessage::GetRule(msg)
    }

    /// A VRF device bound to routing table `table`.
    pub fn new_vrf(name: &str, table: u32) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vrf),
            LinkInfo::Data(InfoData::Vrf(vec![InfoVrf::TableId(table)])),
        ]));
        RouteNetlinkMessage::NewLink(msg)
    }

    fn family(v6: bool) -> AddressFamily {
        if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        }
    }
}

fn parse_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mtu: 0,
        mac: Vec::new(),
        up: msg.header.flags.contains(LinkFlags::Up),
        promisc: msg.header.flags.contains(LinkFlags::Promisc),
        allmulti: msg.header.flags.contains(LinkFlags::Allmulti),
        master: None,
        kind: None,
        alias: None,
        txqlen: 0,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Mtu(mtu) => link.mtu = mtu,
            LinkAttribute::Address(mac) => link.mac = mac,
            LinkAttribute::Controller(master) => link.master = Some(master),
            LinkAttribute::IfAlias(alias) => link.alias = Some(alias),
            LinkAttribute::TxQueueLen(txqlen) => link.txqlen = txqlen,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// rtnetlink operations on one socket (one namespace).
pub struct Handle {
    socket: NetlinkSocket,
}

impl Handle {
    /// # Errors
    /// As [`NetlinkSocket::open`].
    pub fn open(netns: Option<&str>) -> Result<Self> {
        Ok(Handle {
            socket: NetlinkSocket::open(netns)?,
        })
    }

    /// Every link.
    ///
    /// # Errors
    /// [`NetlinkError`].
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let answer = self.socket.dump(&messages::dump_links(), "list links")?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name`, or None.
    ///
    /// # Errors
    /// [`NetlinkError`] other than "no such device".
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        // One GETLINK by name: a node with hundreds of pods must not dump every link.
        match self
            .socket
            .query(messages::get_link(name), &format!("get link {name}"))
        {
            Ok(answer) => Ok(answer.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })),
            Err(err) if err.errno == libc::ENODEV => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn create(&mut self, message: RouteNetlinkMessage, operation: &str) -> Result<()> {
        self.socket
            .request(message, NLM_F_CREATE | NLM_F_EXCL, operation)
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when a name is taken).
    pub fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_netns_fd: Option<RawFd>,
        mtu: u32,
        mac: Option<&[u8]>,
        peer_mac: Option<&[u8]>,
    ) -> Result<()> {
        self.create(
            messages::new_veth(name, peer, peer_netns_fd, mtu, mac, peer_mac),
            &format!("create veth {name}/{peer}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when the name is taken).
    pub fn add_simple(
        &mut self,
        kind: &str,
        name: &str,
        mtu: u32,
        vlan_filtering: bool,
    ) -> Result<()> {
        self.create(
            messages::new_simple(kind, name, mtu, vlan_filtering),
            &format!("create {kind} {name}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when the name is taken, EINVAL for a bad kind or mode).
    #[allow(clippy::too_many_arguments)]
    pub fn add_lower(&mut self, link: &LowerLink<'_>) -> Result<()> {
        let operation = format!("create {} {}", link.kind, link.name);
        let message = messages::new_lower(link)
            .map_err(|m| NetlinkError::new(&format!("{operation}: {m}"), libc::EINVAL))?;
        self.create(message, &operation)
    }

    /// # Errors
    /// [`NetlinkError`].
    pub fn set_link(&mut self, index: u32, change: &LinkChange) -> Result<()> {
        self.socket.request(
            messages::set_link(index, change),
            0,
            &format!("set link {index}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`].
    pub fn set_bridge_port(&mut self, index: u32, flag: BridgePortFlag, on: bool) -> Result<()> {
        self.socket.request(
            messages::set_bridge_port(index, flag, on),
            0,
            &format!("set {flag:?} on bridge port {index}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (ENOENT when removing a VLAN the port does not have).
    pub fn bridge_vlan(
        &mut self,
        index: u32,
        vid: u16,
        pvid: bool,
        untagged: bool,
        add: bool,
    ) -> Result<()> {
        let verb = if add { "add" } else { "remove" };
        self.socket.request(
            messages::bridge_vlan(index, vid, pvid, untagged, add),
            0,
            &format!("{verb} VLAN {vid} on bridge port {index}"),
        )
    }

    /// # Errors
    /// [`NetlinkError`].
    pub fn del_link(&mut self, index: u32) -> Result<()> {
        self.socket.request(
            messages::del_link(index),
            0,
            &format!("delete link {index}"),
        )
    }

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
                message: messages::set_link(index, &change),
                flags: 0,
                operation: format!("set link {index} up"),
            });
        }
        for &(ip, prefix) in addresses {
            requests.push(Request {
                message: messages::new_address(index, ip, prefix),
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
                        _ => {}
                    }
                }
                out.push(info);
            }
        }
        Ok(out)
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when the same rule exists).
    pub fn add_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        self.create(
            RouteNetlinkMessage::NewRule(messages::new_rule(spec)),
            &format!("add rule {}", rule_name(spec)),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (ENOENT when no rule matches).
    pub fn del_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        self.socket.request(
            RouteNetlinkMessage::DelRule(messages::new_rule(spec)),
            0,
            &format!("delete rule {}", rule_name(spec)),
        )
    }

    /// Every rule of a family.
    ///
    /// # Errors
    /// [`NetlinkError`].
    pub fn rules(&mut self, v6: bool) -> Result<Vec<RuleSpec>> {
        let answer = self.socket.dump(&messages::dump_rules(v6), "list rules")?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(rule) => Some(parse_rule(&rule, v6)),
                _ => None,
            })
            .collect())
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when the name is taken, EOPNOTSUPP without VRF support).
    pub fn add_vrf(&mut self, name: &str, table: u32) -> Result<()> {
        self.create(
            messages::new_vrf(name, table),
            &format!("create vrf {name} (table {table})"),
        )
    }
}

fn rule_name(spec: &RuleSpec) -> String {
    let from = spec
        .src
        .map(|(ip, prefix)| format!("from {ip}/{prefix} "))
        .unwrap_or_default();
    let to = spec
        .dst
        .map(|(ip, prefix)| format!("to {ip}/{prefix} "))
        .unwrap_or_default();
    format!("{from}{to}table {}", spec.table)
}

fn parse_rule(rule: &RuleMessage, v6: bool) -> RuleSpec {
    let mut spec = RuleSpec {
        v6,
        table: u32::from(rule.header.table),
        ..RuleSpec::default()
    };
    for attr in &rule.attributes {
        match attr {
            RuleAttribute::Table(t) => spec.table = *t,
            RuleAttribute::Priority(p) => spec.priority = Some(*p),
            RuleAttribute::Source(ip) => spec.src = Some((*ip, rule.header.src_len)),
            RuleAttribute::Destination(ip) => spec.dst = Some((*ip, rule.header.dst_len)),
            RuleAttribute::Iifname(name) => spec.iif = Some(name.clone()),
            RuleAttribute::Oifname(name) => spec.oif = Some(name.clone()),
            _ => {}
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::NetlinkSerializable;

    use super::{messages, LowerLink, RuleSpec};

    fn payload(message: &netlink_packet_route::RouteNetlinkMessage) -> String {
        let mut buf = vec![0; message.buffer_len()];
        message.serialize(&mut buf);
        buf.iter().fold(String::new(), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    // Expected bytes come from pyroute2's encoder (an independent implementation).
    #[test]
    fn stacked_links_match_an_independent_encoder() {
        let lower = |kind, name, mode, vlan_id| LowerLink {
            kind,
            name,
            master: 2,
            mode,
            vlan_id,
            ..LowerLink::default()
        };
        let ipvlan = messages::new_lower(&lower("ipvlan", "ipvl0", Some("l3"), 0)).unwrap();
        assert_eq!(
            payload(&ipvlan),
            "000000000000000000000000000000000a0003006970766c3000000008000500020000001c0012000b000100\
             6970766c616e00000c0002000600010001000000"
        );
        let vlan = messages::new_lower(&lower("vlan", "eth0.100", None, 100)).unwrap();
        assert_eq!(
            payload(&vlan),
            "000000000000000000000000000000000d000300657468302e3130300000000008000500020000001c0012000900\
             0100766c616e000000000c0002000600010064000000"
        );
        let macvlan = messages::new_lower(&lower("macvlan", "mv0", Some("bridge"), 0)).unwrap();
        assert_eq!(
            payload(&macvlan),
            "00000000000000000000000000000000080003006d76300008000500020000001c0012000c0001006d6163766c61\
             6e000c0002000800010004000000"
        );
        assert!(messages::new_lower(&lower("ipvlan", "x", Some("l9"), 0)).is_err());
        assert!(messages::new_lower(&lower("bond", "x", None, 0)).is_err());
    }

    #[test]
    fn rule_tables_above_255_go_in_the_attribute_only() {
        let spec = RuleSpec {
            table: 1000,
            priority: Some(100),
            src: Some(("10.1.2.3".parse().unwrap(), 32)),
            ..RuleSpec::default()
        };
        let msg = messages::new_rule(&spec);
        assert_eq!(msg.header.table, 252); // RT_TABLE_COMPAT
        assert_eq!(msg.header.src_len, 32);
        assert_eq!(super::parse_rule(&msg, false), spec);
    }

    #[test]
    fn macvlan_broadcast_queue_length_is_an_info_data_attribute() {
        let link = LowerLink {
            kind: "macvlan",
            name: "mv0",
            master: 2,
            bc_queue_len: 5000,
            ..LowerLink::default()
        };
        let hex = payload(&messages::new_lower(&link).unwrap());
        // IFLA_MACVLAN_BC_QUEUE_LEN (7 in linux/if_link.h), u32 5000, after IFLA_MACVLAN_MODE
        // (1) bridge (4).
        assert!(hex.ends_with("08000100040000000800070088130000"), "{hex}");
    }
}
