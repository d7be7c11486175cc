// SPDX-License-Identifier: Apache-2.0
//! Links: what we report of one (typed by kind), creating veths, bridges and stacked links
//! (macvlan, ipvlan, vlan), changing and deleting them, bridge ports and their VLANs.
//!
//! Message building ([`messages`]) is separate from I/O, so the bytes can be tested
//! without a kernel.

use std::os::fd::RawFd;

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoData, InfoIpVlan, InfoKind,
    InfoMacVlan, InfoVeth, InfoVlan, InfoVrf, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, MacVlanMode,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::socket::{NetlinkError, NetlinkSocket, Result};

/// How long a deleted link may take to leave its namespace.
pub const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

use super::handle::Handle;

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
    pub kind: Option<LinkKind>,
    pub alias: Option<String>,
    pub txqlen: u32,
    /// IFLA_LINK: the link this one is tied to (a veth's peer, by its index in the peer's
    /// namespace; a macvlan's parent).
    pub link: Option<u32>,
    /// A VRF's routing table.
    pub vrf_table: Option<u32>,
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

/// The kind of a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Veth,
    Bridge,
    Macvlan,
    Ipvlan,
    Vlan,
    Dummy,
    Ifb,
    Tun,
    Vrf,
    Other(String),
}

impl LinkKind {
    /// The kernel's name of the kind (`ip -d link` shows it).
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Vlan => "vlan",
            LinkKind::Dummy => "dummy",
            LinkKind::Ifb => "ifb",
            LinkKind::Tun => "tun",
            LinkKind::Vrf => "vrf",
            LinkKind::Other(name) => name,
        }
    }
}

impl From<InfoKind> for LinkKind {
    fn from(kind: InfoKind) -> Self {
        match kind {
            InfoKind::Veth => LinkKind::Veth,
            InfoKind::Bridge => LinkKind::Bridge,
            InfoKind::MacVlan => LinkKind::Macvlan,
            InfoKind::IpVlan => LinkKind::Ipvlan,
            InfoKind::Vlan => LinkKind::Vlan,
            InfoKind::Dummy => LinkKind::Dummy,
            InfoKind::Ifb => LinkKind::Ifb,
            InfoKind::Tun => LinkKind::Tun,
            InfoKind::Vrf => LinkKind::Vrf,
            other => LinkKind::Other(other.to_string()),
        }
    }
}

/// A kind of link that needs nothing beyond a name and an MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleKind {
    Bridge { vlan_filtering: bool },
    Dummy,
    Ifb,
}

impl SimpleKind {
    /// # Errors
    /// A message naming a kind that is not one of these.
    pub fn parse(kind: &str, vlan_filtering: bool) -> std::result::Result<Self, String> {
        match kind {
            "bridge" => Ok(SimpleKind::Bridge { vlan_filtering }),
            "dummy" => Ok(SimpleKind::Dummy),
            "ifb" => Ok(SimpleKind::Ifb),
            other => Err(format!("unknown link kind {other:?}: bridge, dummy or ifb")),
        }
    }

    fn info_kind(self) -> InfoKind {
        match self {
            SimpleKind::Bridge { .. } => InfoKind::Bridge,
            SimpleKind::Dummy => InfoKind::Dummy,
            SimpleKind::Ifb => InfoKind::Ifb,
        }
    }
}

/// The macvlan modes CNI configs name (`passthru` is the kernel's passthrough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

/// The ipvlan modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

/// A link stacked on a master, by kind, with what that kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackedKind {
    Macvlan(MacvlanMode),
    Ipvlan(IpvlanMode),
    /// An 802.1q link with this VLAN ID.
    Vlan(u16),
}

impl StackedKind {
    /// From the names CNI configs use; no `mode` is the reference's default (bridge, l2).
    ///
    /// # Errors
    /// A message naming the unknown kind or mode.
    pub fn parse(
        kind: &str,
        mode: Option<&str>,
        vlan_id: u16,
    ) -> std::result::Result<Self, String> {
        match kind {
            "macvlan" => Ok(StackedKind::Macvlan(match mode.unwrap_or("bridge") {
                "bridge" => MacvlanMode::Bridge,
                "private" => MacvlanMode::Private,
                "vepa" => MacvlanMode::Vepa,
                "passthru" => MacvlanMode::Passthru,
                other => return Err(format!("unknown macvlan mode {other:?}")),
            })),
            "ipvlan" => Ok(StackedKind::Ipvlan(match mode.unwrap_or("l2") {
                "l2" => IpvlanMode::L2,
                "l3" => IpvlanMode::L3,
                "l3s" => IpvlanMode::L3s,
                other => return Err(format!("unknown ipvlan mode {other:?}")),
            })),
            "vlan" => Ok(StackedKind::Vlan(vlan_id)),
            other => Err(format!(
                "unknown stacked link kind {other:?}: macvlan, ipvlan or vlan"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StackedKind::Macvlan(_) => "macvlan",
            StackedKind::Ipvlan(_) => "ipvlan",
            StackedKind::Vlan(_) => "vlan",
        }
    }
}

/// A macvlan, ipvlan or vlan link stacked on `master` (an index in the socket's namespace).
#[derive(Debug, Clone)]
pub struct LowerLink<'a> {
    pub kind: StackedKind,
    pub name: &'a str,
    pub master: u32,
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
        link: None,
        vrf_table: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Mtu(mtu) => link.mtu = mtu,
            LinkAttribute::Address(mac) => link.mac = mac,
            LinkAttribute::Controller(master) => link.master = Some(master),
            LinkAttribute::IfAlias(alias) => link.alias = Some(alias),
            LinkAttribute::TxQueueLen(txqlen) => link.txqlen = txqlen,
            LinkAttribute::Link(index) => link.link = Some(index),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => link.kind = Some(LinkKind::from(kind)),
                        LinkInfo::Data(InfoData::Vrf(data)) => {
                            link.vrf_table = data.iter().find_map(|d| match d {
                                InfoVrf::TableId(table) => Some(*table),
                                _ => None,
                            });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// Pure message builders (no I/O).
pub mod messages {
    use super::{
        AddressFamily, AfSpecBridge, BridgePortFlag, BridgeVlanInfo, BridgeVlanInfoFlags,
        DefaultNla, InfoBridge, InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, InfoVlan,
        InfoVrf, IpVlanMode, IpvlanMode, LinkAttribute, LinkChange, LinkFlags, LinkInfo,
        LinkMessage, LowerLink, MacVlanMode, MacvlanMode, RawFd, RouteNetlinkMessage, SimpleKind,
        StackedKind,
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
    pub fn new_simple(kind_of: SimpleKind, name: &str, mtu: u32) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let SimpleKind::Bridge {
            vlan_filtering: true,
        } = kind_of
        {
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(kind_of.info_kind()),
                LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::VlanFiltering(true)])),
            ]));
        } else {
            msg.attributes.push(kind(kind_of.info_kind()));
        }
        RouteNetlinkMessage::NewLink(msg)
    }

    /// A link stacked on `master` (macvlan, ipvlan or vlan), created directly inside the
    /// namespace `netns_fd` when given.
    pub fn new_lower(link: &LowerLink<'_>) -> RouteNetlinkMessage {
        let info = match link.kind {
            StackedKind::Macvlan(mode) => {
                let mode = match mode {
                    MacvlanMode::Bridge => MacVlanMode::Bridge,
                    MacvlanMode::Private => MacVlanMode::Private,
                    MacvlanMode::Vepa => MacVlanMode::Vepa,
                    MacvlanMode::Passthru => MacVlanMode::Passthrough,
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
            StackedKind::Ipvlan(mode) => {
                let mode = match mode {
                    IpvlanMode::L2 => IpVlanMode::L2,
                    IpvlanMode::L3 => IpVlanMode::L3,
                    IpvlanMode::L3s => IpVlanMode::L3S,
                };
                vec![
                    LinkInfo::Kind(InfoKind::IpVlan),
                    LinkInfo::Data(InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)])),
                ]
            }
            StackedKind::Vlan(id) => vec![
                LinkInfo::Kind(InfoKind::Vlan),
                LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(id)])),
            ],
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
        RouteNetlinkMessage::NewLink(msg)
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

    pub fn get_link_by_index(index: u32) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        RouteNetlinkMessage::GetLink(msg)
    }

    pub fn get_link(name: &str) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        RouteNetlinkMessage::GetLink(msg)
    }

    pub fn dump_links() -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetLink(LinkMessage::default())
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
}

impl Handle {
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

    /// The link with index `index`, or None.
    ///
    /// # Errors
    /// [`NetlinkError`] other than "no such device".
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        match self.socket.query(
            messages::get_link_by_index(index),
            &format!("get link {index}"),
        ) {
            Ok(answer) => Ok(answer.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })),
            Err(err) if err.errno == libc::ENODEV => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub(super) fn create(&mut self, message: RouteNetlinkMessage, operation: &str) -> Result<()> {
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
    pub fn add_simple(&mut self, kind: SimpleKind, name: &str, mtu: u32) -> Result<()> {
        let operation = format!("create {} {name}", kind.info_kind());
        self.create(messages::new_simple(kind, name, mtu), &operation)
    }

    /// # Errors
    /// [`NetlinkError`] (EEXIST when the name is taken, EINVAL for a bad kind or mode).
    #[allow(clippy::too_many_arguments)]
    pub fn add_lower(&mut self, link: &LowerLink<'_>) -> Result<()> {
        let operation = format!("create {} {}", link.kind.name(), link.name);
        self.create(messages::new_lower(link), &operation)
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
    /// Deletes link `index` and returns once it is gone from the namespace. The kernel
    /// unlists a link at once but answers only after its unregistration's RCU grace periods
    /// (15-30 ms a veth here, on every DEL); that wait is a detached grandchild's.
    ///
    /// # Errors
    /// [`NetlinkError`] with the kernel's errno, or ETIMEDOUT if the link is still there
    /// after [`DELETE_WAIT`].
    pub fn del_link(&mut self, index: u32) -> Result<()> {
        let operation = format!("delete link {index}");
        let refused = NetlinkSocket::request_detached(
            self.netns.as_deref(),
            messages::del_link(index),
            &operation,
        )?;
        let deadline = std::time::Instant::now() + DELETE_WAIT;
        loop {
            match self
                .socket
                .query(messages::get_link_by_index(index), &operation)
            {
                Err(err) if err.errno == libc::ENODEV => return Ok(()),
                Err(err) => return Err(err),
                Ok(_) => {}
            }
            let mut errno = [0u8; 4];
            // SAFETY: reading 4 bytes into a live buffer from a pipe we own.
            if unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&refused),
                    errno.as_mut_ptr().cast(),
                    4,
                )
            } == 4
            {
                return Err(NetlinkError::new(&operation, i32::from_ne_bytes(errno)));
            }
            if std::time::Instant::now() > deadline {
                return Err(NetlinkError::new(&operation, libc::ETIMEDOUT));
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
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
