// SPDX-License-Identifier: Apache-2.0
//! `Netlink`: rtnetlink operations in one namespace, for the interface plugins; sysctls.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::errors::{Error, Result};
use cni_core::net::{self, Addr, Mac};
use cni_core::netlink::{address, link, route, sysctl, tap, tc};
use cni_core::netlink::{
    BridgePortFlag, Handle, Link, LinkChange, LowerLink, NetlinkError, RouteSpec, RuleSpec,
    SimpleKind, StackedKind,
};

/// Opens the namespace file at `path`; the file must stay open while its fd is in use.
fn open_netns(path: Option<&str>) -> Result<Option<File>> {
    path.map(|p| File::open(p).map_err(|e| Error::io(&format!("open netns {p}"), &e)))
        .transpose()
}

fn parse_mac(text: &str) -> Result<Vec<u8>> {
    Mac::parse(text)
        .map(|mac| mac.0.to_vec())
        .ok_or_else(|| Error::value(format!("invalid MAC address {text:?}")))
}

fn parse_cidr(text: &str) -> Result<(IpAddr, u8)> {
    net::parse_cidr(text)
        .map(|(addr, prefix)| (addr.ip(), prefix))
        .ok_or_else(|| Error::value(format!("invalid CIDR {text:?}")))
}

/// A route's destination as the kernel wants it (none for a default route) and its family.
fn route_destination(dst: &str) -> Result<(Option<(IpAddr, u8)>, bool)> {
    let (net, prefix) = parse_cidr(dst)?;
    Ok(((prefix != 0).then_some((net, prefix)), net.is_ipv6()))
}

fn optional<'py, T: FromPyObjectOwned<'py>>(
    route: &Bound<'py, PyDict>,
    key: &str,
) -> Result<Option<T>> {
    match route.get_item(key)? {
        Some(value) if !value.is_none() => Ok(Some(value.extract().map_err(Into::into)?)),
        _ => Ok(None),
    }
}

fn rule_spec(
    table: u32,
    priority: Option<u32>,
    src: Option<&str>,
    dst: Option<&str>,
    iif: Option<String>,
    oif: Option<String>,
    family: u8,
) -> Result<RuleSpec> {
    if family != 4 && family != 6 {
        return Err(Error::value(format!("family must be 4 or 6, not {family}")));
    }
    let src = src.map(parse_cidr).transpose()?;
    let dst = dst.map(parse_cidr).transpose()?;
    let families: Vec<bool> = [src, dst]
        .iter()
        .flatten()
        .map(|(ip, _)| ip.is_ipv6())
        .collect();
    let v6 = families.first().copied().unwrap_or(family == 6);
    if families.iter().any(|&f| f != v6) {
        return Err(Error::value("src and dst must be of one family"));
    }
    Ok(RuleSpec {
        v6,
        priority,
        table,
        src,
        dst,
        iif,
        oif,
    })
}

/// A route of [`PyNetlink::configure`], from its dict; the device is set by the caller.
fn route_from_dict(route: &Bound<'_, PyDict>) -> Result<RouteSpec> {
    let dst: String = optional(route, "dst")?
        .ok_or_else(|| Error::value(format!("route without a dst: {route}")))?;
    let (dst, v6) = route_destination(&dst)?;
    let gateway = optional::<String>(route, "gw")?
        .map(|gw| parse_ip(&gw))
        .transpose()?;
    Ok(RouteSpec {
        dst,
        v6,
        gateway,
        oif: None,
        priority: optional(route, "priority")?,
        table: optional(route, "table")?,
        scope: optional(route, "scope")?,
        mtu: optional(route, "mtu")?,
        advmss: optional(route, "advmss")?,
        ..RouteSpec::default()
    })
}

fn parse_ip(text: &str) -> Result<IpAddr> {
    Addr::parse(text)
        .map(Addr::ip)
        .ok_or_else(|| Error::value(format!("invalid IP address {text:?}")))
}

/// A link, as the kernel reports it: a frozen record (`link.mtu`, not `link["mtu"]`).
#[pyclass(module = "cni._native", name = "Link", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyLink {
    index: u32,
    name: String,
    mtu: u32,
    /// `aa:bb:cc:dd:ee:ff`, or "" for a link without one.
    mac: String,
    up: bool,
    promisc: bool,
    allmulti: bool,
    master: Option<u32>,
    /// The kernel's name of the kind (veth, bridge, ...), None for a plain device.
    kind: Option<String>,
    alias: Option<String>,
    txqlen: u32,
    /// The index of the link this one is tied to (a veth's peer, in the peer's namespace).
    link: Option<u32>,
    /// A VRF's routing table.
    vrf_table: Option<u32>,
}

impl From<&Link> for PyLink {
    fn from(link: &Link) -> Self {
        PyLink {
            index: link.index,
            name: link.name.clone(),
            mtu: link.mtu,
            mac: net::format_hw(&link.mac),
            up: link.up,
            promisc: link.promisc,
            allmulti: link.allmulti,
            master: link.master,
            kind: link.kind.as_ref().map(|k| k.as_str().to_owned()),
            alias: link.alias.clone(),
            txqlen: link.txqlen,
            link: link.link,
            vrf_table: link.vrf_table,
        }
    }
}

#[pymethods]
impl PyLink {
    fn __repr__(&self) -> String {
        format!(
            "Link(name={:?}, index={}, kind={:?}, mtu={}, mac={:?}, up={})",
            self.name, self.index, self.kind, self.mtu, self.mac, self.up
        )
    }
}

/// A route the kernel holds: destination (`0.0.0.0/0` for default), gateway, device.
#[pyclass(module = "cni._native", name = "Route", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyRoute {
    dst: String,
    gw: Option<String>,
    oif: Option<u32>,
    priority: Option<u32>,
    table: u32,
    scope: u8,
    /// The preferred source address (RTA_PREFSRC).
    src: Option<String>,
    /// The routing protocol that made it (RTPROT_*: 2 kernel, 3 boot, 4 static, ...).
    protocol: u8,
    /// The route type (RTN_*: 1 unicast, 2 local, 3 broadcast, 5 multicast, ...).
    kind: u8,
}

#[pymethods]
impl PyRoute {
    fn __repr__(&self) -> String {
        format!(
            "Route(dst={:?}, gw={:?}, oif={:?}, table={})",
            self.dst, self.gw, self.oif, self.table
        )
    }
}

/// A policy-routing rule: packets matching every selector given look up `table`.
#[pyclass(module = "cni._native", name = "Rule", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyRule {
    table: u32,
    priority: Option<u32>,
    src: Option<String>,
    dst: Option<String>,
    iif: Option<String>,
    oif: Option<String>,
}

#[pymethods]
impl PyRule {
    fn __repr__(&self) -> String {
        format!(
            "Rule(table={}, priority={:?}, src={:?}, dst={:?})",
            self.table, self.priority, self.src, self.dst
        )
    }
}

/// rtnetlink in one network namespace (the caller's, or the one at `netns`).
#[pyclass(module = "cni._native", name = "Netlink")]
pub struct PyNetlink {
    handle: Mutex<Handle>,
    netns: Option<String>,
}

impl PyNetlink {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut Handle) -> std::result::Result<T, NetlinkError> + Send,
    ) -> Result<T> {
        let handle = &self.handle;
        py.detach(|| {
            let mut guard = handle
                .lock()
                .map_err(|_| NetlinkError::new("lock netlink socket", 0))?;
            work(&mut guard)
        })
        .map_err(Error::from)
    }

    fn index(&self, py: Python<'_>, name: &str) -> Result<u32> {
        let owned = name.to_owned();
        let found = self.with(py, move |h| h.link(&owned))?;
        found
            .map(|l| l.index)
            .ok_or_else(|| NetlinkError::new(&format!("find link {name}"), libc::ENODEV).into())
    }
}

#[pymethods]
impl PyNetlink {
    #[new]
    #[pyo3(signature = (netns=None))]
    fn new(py: Python<'_>, netns: Option<String>) -> Result<Self> {
        let path = netns.clone();
        let handle = py.detach(move || Handle::open(path.as_deref()))?;
        Ok(PyNetlink {
            handle: Mutex::new(handle),
            netns,
        })
    }

    #[getter]
    fn netns(&self) -> Option<String> {
        self.netns.clone()
    }

    fn links(&self, py: Python<'_>) -> Result<Vec<PyLink>> {
        let links = self.with(py, Handle::links)?;
        Ok(links.iter().map(PyLink::from).collect())
    }

    fn link(&self, py: Python<'_>, name: &str) -> Result<Option<PyLink>> {
        let owned = name.to_owned();
        let found = self.with(py, move |h| h.link(&owned))?;
        Ok(found.as_ref().map(PyLink::from))
    }

    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (name, peer, *, peer_netns=None, mtu=0, mac=None, peer_mac=None))]
    fn add_veth(
        &self,
        py: Python<'_>,
        name: &str,
        peer: &str,
        peer_netns: Option<&str>,
        mtu: u32,
        mac: Option<&str>,
        peer_mac: Option<&str>,
    ) -> Result<()> {
        let ns_file = open_netns(peer_netns)?;
        let fd = ns_file.as_ref().map(AsRawFd::as_raw_fd);
        let mac = mac.map(parse_mac).transpose()?;
        let peer_mac = peer_mac.map(parse_mac).transpose()?;
        let (name, peer) = (name.to_owned(), peer.to_owned());
        self.with(py, move |h| {
            h.add_veth(&name, &peer, fd, mtu, mac.as_deref(), peer_mac.as_deref())
        })
    }

    #[pyo3(signature = (kind, name, *, mtu=0, vlan_filtering=false))]
    fn add_link(
        &self,
        py: Python<'_>,
        kind: &str,
        name: &str,
        mtu: u32,
        vlan_filtering: bool,
    ) -> Result<()> {
        let kind = SimpleKind::parse(kind, vlan_filtering).map_err(Error::value)?;
        let name = name.to_owned();
        self.with(py, move |h| h.add_simple(kind, &name, mtu))
    }

    /// A macvlan, ipvlan or vlan link on `master`, created inside `netns` when given.
    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (kind, name, master, *, mode=None, vlan_id=0, netns=None, mtu=0, mac=None, bc_queue_len=0))]
    fn add_lower(
        &self,
        py: Python<'_>,
        kind: &str,
        name: &str,
        master: &str,
        mode: Option<&str>,
        vlan_id: u16,
        netns: Option<&str>,
        mtu: u32,
        mac: Option<&str>,
        bc_queue_len: u32,
    ) -> Result<()> {
        let master = self.index(py, master)?;
        let ns_file = open_netns(netns)?;
        let netns_fd = ns_file.as_ref().map(AsRawFd::as_raw_fd);
        let mac = mac.map(parse_mac).transpose()?;
        let kind = StackedKind::parse(kind, mode, vlan_id).map_err(Error::value)?;
        let name = name.to_owned();
        self.with(py, move |h| {
            h.add_lower(&LowerLink {
                kind,
                name: &name,
                master,
                netns_fd,
                mtu,
                mac: mac.as_deref(),
                bc_queue_len,
            })
        })
    }

    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (name, *, up=None, promisc=None, mtu=None, mac=None, master=None, netns=None, new_name=None, alias=None, txqlen=None, allmulti=None))]
    fn set_link(
        &self,
        py: Python<'_>,
        name: &str,
        up: Option<bool>,
        promisc: Option<bool>,
        mtu: Option<u32>,
        mac: Option<&str>,
        master: Option<&str>,
        netns: Option<&str>,
        new_name: Option<String>,
        alias: Option<String>,
        txqlen: Option<u32>,
        allmulti: Option<bool>,
    ) -> Result<()> {
        let index = self.index(py, name)?;
        let master = match master {
            None => None,
            Some("") => Some(0),
            Some(m) => Some(self.index(py, m)?),
        };
        let ns_file = open_netns(netns)?;
        let change = LinkChange {
            up,
            promisc,
            mtu,
            mac: mac.map(parse_mac).transpose()?,
            master,
            netns_fd: ns_file.as_ref().map(AsRawFd::as_raw_fd),
            name: new_name,
            alias,
            txqlen,
            allmulti,
        };
        self.with(py, move |h| h.set_link(index, &change))
    }

    /// Bridge-port flags of `name`: `hairpin`, `isolated` (None leaves one alone).
    #[pyo3(signature = (name, *, hairpin=None, isolated=None))]
    fn set_bridge_port(
        &self,
        py: Python<'_>,
        name: &str,
        hairpin: Option<bool>,
        isolated: Option<bool>,
    ) -> Result<()> {
        let index = self.index(py, name)?;
        for (flag, on) in [
            (BridgePortFlag::Hairpin, hairpin),
            (BridgePortFlag::Isolated, isolated),
        ] {
            if let Some(on) = on {
                self.with(py, move |h| h.set_bridge_port(index, flag, on))?;
            }
        }
        Ok(())
    }

    /// Adds (`add=False`: removes) VLAN `vid` on bridge port `name`.
    #[pyo3(signature = (name, vid, *, pvid=false, untagged=false, add=true))]
    fn bridge_vlan(
        &self,
        py: Python<'_>,
        name: &str,
        vid: u16,
        pvid: bool,
        untagged: bool,
        add: bool,
    ) -> Result<()> {
        let index = self.index(py, name)?;
        self.with(py, move |h| h.bridge_vlan(index, vid, pvid, untagged, add))
    }

    /// The link with index `index`, or None.
    fn link_by_index(&self, py: Python<'_>, index: u32) -> Result<Option<PyLink>> {
        Ok(self
            .with(py, move |h| h.link_by_index(index))?
            .as_ref()
            .map(PyLink::from))
    }

    /// A token bucket filter as the root qdisc of `name`: `rate` bits/s, `burst` bits, a
    /// 25 ms queue (the reference's shaping).
    fn add_tbf(&self, py: Python<'_>, name: &str, rate: u64, burst: u64) -> Result<()> {
        let index = self.index(py, name)?;
        let tbf = shaping(rate, burst)?;
        self.with(py, move |h| h.add_tbf(index, &tbf))
    }

    /// The root TBF of `name` as (rate in bytes/s, buffer in ticks, limit in bytes), or
    /// None when its root qdisc is not a TBF.
    fn tbf(&self, py: Python<'_>, name: &str) -> Result<Option<(u64, u32, u32)>> {
        let index = self.index(py, name)?;
        let qdiscs = self.with(py, move |h| h.qdiscs(index))?;
        Ok(qdiscs
            .iter()
            .find(|q| q.parent == tc::ROOT)
            .and_then(|q| q.tbf)
            .map(|t| (t.rate, t.buffer, t.limit)))
    }

    /// The qdiscs of `name` as (kind, handle, parent); a default root qdisc has handle 0.
    fn qdiscs(&self, py: Python<'_>, name: &str) -> Result<Vec<(String, u32, u32)>> {
        let index = self.index(py, name)?;
        let qdiscs = self.with(py, move |h| h.qdiscs(index))?;
        Ok(qdiscs
            .into_iter()
            .map(|q| (q.kind, q.handle, q.parent))
            .collect())
    }

    /// The ingress qdisc of `name` with a filter redirecting every packet to `to`.
    fn add_ingress_redirect(&self, py: Python<'_>, name: &str, to: &str) -> Result<()> {
        let index = self.index(py, name)?;
        let target = self.index(py, to)?;
        self.with(py, move |h| h.add_ingress_redirect(index, target))
    }

    /// The indexes of the links the ingress filters of `name` redirect to.
    fn redirect_targets(&self, py: Python<'_>, name: &str) -> Result<Vec<u32>> {
        let index = self.index(py, name)?;
        self.with(py, move |h| h.redirect_targets(index))
    }

    /// Removes the root (or the ingress) qdisc of `name`; absent is no error.
    #[pyo3(signature = (name, *, ingress=false))]
    fn del_qdisc(&self, py: Python<'_>, name: &str, ingress: bool) -> Result<()> {
        let index = self.index(py, name)?;
        let parent = if ingress {
            tc::INGRESS_PARENT
        } else {
            tc::ROOT
        };
        self.with(py, move |h| h.del_qdisc(index, parent))
    }

    fn del_link(&self, py: Python<'_>, name: &str) -> Result<()> {
        let index = self.index(py, name)?;
        self.with(py, move |h| h.del_link(index))
    }

    fn add_address(&self, py: Python<'_>, name: &str, cidr: &str) -> Result<()> {
        let index = self.index(py, name)?;
        let (ip, prefix) = parse_cidr(cidr)?;
        self.with(py, move |h| h.add_address(index, ip, prefix))
    }

    fn del_address(&self, py: Python<'_>, name: &str, cidr: &str) -> Result<()> {
        let index = self.index(py, name)?;
        let (ip, prefix) = parse_cidr(cidr)?;
        self.with(py, move |h| h.del_address(index, ip, prefix))
    }

    /// Addresses in CIDR form, of link `name` or of every link.
    #[pyo3(signature = (name=None))]
    fn addresses(&self, py: Python<'_>, name: Option<&str>) -> Result<Vec<String>> {
        let index = name.map(|n| self.index(py, n)).transpose()?;
        let all = self.with(py, Handle::addresses)?;
        Ok(all
            .into_iter()
            .filter(|(i, _, _)| index.is_none_or(|want| *i == want))
            .map(|(_, ip, prefix)| format!("{ip}/{prefix}"))
            .collect())
    }

    /// Brings `name` up, adds `addresses` and adds or replaces `routes` through it, in one
    /// batch. A route is a dict: `dst` (required), `gw`, `priority`, `table`, `scope`, `mtu`,
    /// `advmss` (absent or None: not set).
    #[pyo3(signature = (name, *, addresses, routes, up=true))]
    fn configure(
        &self,
        py: Python<'_>,
        name: &str,
        addresses: Vec<String>,
        routes: Vec<Bound<'_, PyDict>>,
        up: bool,
    ) -> Result<()> {
        let addresses = addresses
            .into_iter()
            .map(|a| parse_cidr(&a))
            .collect::<Result<Vec<_>>>()?;
        let routes = routes
            .into_iter()
            .map(|r| route_from_dict(&r))
            .collect::<Result<Vec<_>>>()?;
        let index = self.index(py, name)?;
        self.with(py, move |h| h.configure(index, up, &addresses, &routes))
    }

    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (dst, *, gw=None, dev=None, priority=None, table=None, scope=None, mtu=None, advmss=None, src=None, protocol=None, replace=false))]
    fn add_route(
        &self,
        py: Python<'_>,
        dst: &str,
        gw: Option<&str>,
        dev: Option<&str>,
        priority: Option<u32>,
        table: Option<u32>,
        scope: Option<u8>,
        mtu: Option<u32>,
        advmss: Option<u32>,
        src: Option<&str>,
        protocol: Option<u8>,
        replace: bool,
    ) -> Result<()> {
        let (dst, v6) = route_destination(dst)?;
        let gateway = gw.map(parse_ip).transpose()?;
        let prefsrc = src.map(parse_ip).transpose()?;
        let oif = dev.map(|d| self.index(py, d)).transpose()?;
        let spec = RouteSpec {
            dst,
            v6,
            gateway,
            oif,
            priority,
            table,
            scope,
            mtu,
            advmss,
            prefsrc,
            protocol,
        };
        self.with(py, move |h| h.add_route(&spec, replace))
    }

    /// Deletes the route to `dst` (on `dev`, in `table`, via `gw`, with metric `priority`:
    /// each given narrows the match); ESRCH when there is none.
    #[pyo3(signature = (dst, *, dev=None, table=None, gw=None, priority=None))]
    fn del_route(
        &self,
        py: Python<'_>,
        dst: &str,
        dev: Option<&str>,
        table: Option<u32>,
        gw: Option<&str>,
        priority: Option<u32>,
    ) -> Result<()> {
        let (dst, v6) = route_destination(dst)?;
        let oif = dev.map(|d| self.index(py, d)).transpose()?;
        let gateway = gw.map(parse_ip).transpose()?;
        let spec = RouteSpec {
            dst,
            v6,
            oif,
            table,
            gateway,
            priority,
            ..RouteSpec::default()
        };
        self.with(py, move |h| h.del_route(&spec))
    }

    /// Adds a policy-routing rule: packets matching every given selector look up `table`.
    /// `src`/`dst` are CIDRs; the family follows them (else `family`, 4 or 6).
    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (*, table, priority=None, src=None, dst=None, iif=None, oif=None, family=4))]
    fn add_rule(
        &self,
        py: Python<'_>,
        table: u32,
        priority: Option<u32>,
        src: Option<&str>,
        dst: Option<&str>,
        iif: Option<String>,
        oif: Option<String>,
        family: u8,
    ) -> Result<()> {
        let spec = rule_spec(table, priority, src, dst, iif, oif, family)?;
        self.with(py, move |h| h.add_rule(&spec))
    }

    /// Deletes the rule with exactly these selectors; NetlinkError (ENOENT) when none matches.
    #[allow(clippy::too_many_arguments)] // keyword arguments of one Python method
    #[pyo3(signature = (*, table, priority=None, src=None, dst=None, iif=None, oif=None, family=4))]
    fn del_rule(
        &self,
        py: Python<'_>,
        table: u32,
        priority: Option<u32>,
        src: Option<&str>,
        dst: Option<&str>,
        iif: Option<String>,
        oif: Option<String>,
        family: u8,
    ) -> Result<()> {
        let spec = rule_spec(table, priority, src, dst, iif, oif, family)?;
        self.with(py, move |h| h.del_rule(&spec))
    }

    /// Rules of one family (4 or 6).
    #[pyo3(signature = (family=4))]
    fn rules(&self, py: Python<'_>, family: u8) -> Result<Vec<PyRule>> {
        let rules = self.with(py, move |h| h.rules(family == 6))?;
        Ok(rules
            .into_iter()
            .map(|r| PyRule {
                table: r.table,
                priority: r.priority,
                src: r.src.map(|(ip, p)| format!("{ip}/{p}")),
                dst: r.dst.map(|(ip, p)| format!("{ip}/{p}")),
                iif: r.iif,
                oif: r.oif,
            })
            .collect())
    }

    /// A VRF device bound to routing table `table`.
    fn add_vrf(&self, py: Python<'_>, name: &str, table: u32) -> Result<()> {
        let name = name.to_owned();
        self.with(py, move |h| h.add_vrf(&name, table))
    }

    /// Routes of one family (4 or 6) in every table.
    #[pyo3(signature = (family=4))]
    fn routes(&self, py: Python<'_>, family: u8) -> Result<Vec<PyRoute>> {
        let routes = self.with(py, move |h| h.routes(family == 6))?;
        let default = if family == 6 { "::/0" } else { "0.0.0.0/0" };
        Ok(routes
            .into_iter()
            .map(|r| PyRoute {
                dst: r
                    .dst
                    .map_or_else(|| default.to_owned(), |(ip, p)| format!("{ip}/{p}")),
                gw: r.gateway.map(|g| g.to_string()),
                oif: r.oif,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
                src: r.prefsrc.map(|a| a.to_string()),
                protocol: r.protocol,
                kind: r.kind,
            })
            .collect())
    }
}

fn tick_in_usec() -> Result<f64> {
    tc::tick_in_usec().map_err(|e| Error::io("read /proc/net/psched", &e))
}

/// A socket (`family`, `kind`: the socket module's numbers) made inside the network
/// namespace at `netns`, as a file descriptor the caller owns: it stays in that namespace.
#[pyfunction]
pub fn socket_in_netns(py: Python<'_>, netns: &str, family: i32, kind: i32) -> Result<i32> {
    use std::os::fd::IntoRawFd;

    let path = netns.to_owned();
    py.detach(move || cni_core::netlink::ns::socket_in(&path, family, kind))
        .map(IntoRawFd::into_raw_fd)
        .map_err(|e| Error::io(&format!("make a socket in {netns}"), &e))
}

/// The reference's name of the IFB that shapes the egress of an attachment.
#[pyfunction]
pub fn bandwidth_ifb_name(network: &str, container_id: &str) -> String {
    cni_core::firewall::names::ifb_name(network, container_id)
}

/// A TBF's kernel parameters for `rate` bits/s and `burst` bits, as
/// (rate in bytes/s, buffer in ticks, limit in bytes): what CHECK compares.
#[pyfunction]
pub fn tbf_shaping(rate: u64, burst: u64) -> Result<(u64, u32, u32)> {
    let tbf = shaping(rate, burst)?;
    Ok((tbf.rate, tbf.buffer, tbf.limit))
}

fn shaping(rate: u64, burst: u64) -> Result<tc::Tbf> {
    let tick = tick_in_usec()?;
    tc::Tbf::shaping(rate, burst, tick).ok_or_else(|| {
        let most = f64::from(u32::MAX) / tick / 1e6;
        Error::value(format!(
            "rate {rate} bits/s with burst {burst} bits cannot be shaped: each must be at \
             least 8, the burst at most {most:.0} s of traffic and the queue under 4 GiB"
        ))
    })
}

fn sysctl_error(err: &sysctl::SysctlError) -> Error {
    match &err.path {
        None if err.error.kind() == std::io::ErrorKind::InvalidInput => Error::value(&err.error),
        path => Error::io(
            &format!("sysctl {}", path.as_deref().unwrap_or("namespace")),
            &err.error,
        ),
    }
}

/// Writes `value` to a sysctl under /proc/sys/net/ in the namespace at `netns` (or ours).
#[pyfunction]
#[pyo3(signature = (key, value, netns=None))]
pub fn write_sysctl(py: Python<'_>, key: &str, value: &str, netns: Option<&str>) -> Result<()> {
    write_sysctls(py, vec![(key.to_owned(), value.to_owned())], netns)
}

/// Writes sysctls under /proc/sys/net/ in the namespace at `netns` (or ours), all or nothing.
#[pyfunction]
#[pyo3(signature = (entries, netns=None))]
pub fn write_sysctls(
    py: Python<'_>,
    entries: Vec<(String, String)>,
    netns: Option<&str>,
) -> Result<()> {
    let n = netns.map(str::to_owned);
    py.detach(move || sysctl::write_sysctls(n.as_deref(), &entries))
        .map_err(|e| sysctl_error(&e))
}

/// Reads sysctls under /proc/sys/net/ in the namespace at `netns` (or ours).
#[pyfunction]
#[pyo3(signature = (keys, netns=None))]
pub fn read_sysctls(py: Python<'_>, keys: Vec<String>, netns: Option<&str>) -> Result<Vec<String>> {
    let n = netns.map(str::to_owned);
    py.detach(move || sysctl::read_sysctls(n.as_deref(), &keys))
        .map_err(|e| sysctl_error(&e))
}

/// The file of sysctl `key` (dotted, or a path that keeps its dots) under /proc/sys/net/.
#[pyfunction]
pub fn sysctl_path(key: &str) -> Result<String> {
    sysctl::sysctl_path(key).map_err(Error::value)
}

/// Creates a persistent tap device (VNET_HDR) in the namespace at `netns` (or ours).
#[pyfunction]
#[pyo3(signature = (name, *, netns=None, multi_queue=false, owner=None, group=None))]
pub fn create_tap(
    py: Python<'_>,
    name: &str,
    netns: Option<&str>,
    multi_queue: bool,
    owner: Option<u32>,
    group: Option<u32>,
) -> Result<()> {
    let options = tap::TapOptions {
        multi_queue,
        owner,
        group,
    };
    let (n, path) = (name.to_owned(), netns.map(str::to_owned));
    py.detach(move || tap::create_tap(path.as_deref(), &n, &options))
        .map_err(|e| Error::io(&format!("create tap {name}"), &e))
}

/// The wire bytes of a veth + address + default route setup (no I/O): what a bridge ADD
/// sends, for benchmarks and byte-level tests.
#[pyfunction]
pub fn encode_veth_setup<'py>(
    py: Python<'py>,
    host: &str,
    peer: &str,
    index: u32,
    cidr: &str,
    gateway: &str,
) -> Result<Vec<Bound<'py, PyBytes>>> {
    let (ip, prefix) = parse_cidr(cidr)?;
    let gw = parse_ip(gateway)?;
    let route = RouteSpec {
        v6: ip.is_ipv6(),
        gateway: Some(gw),
        oif: Some(index),
        ..RouteSpec::default()
    };
    let msgs = [
        link::messages::new_veth(host, peer, None, 1500, None, None),
        address::messages::new_address(index, ip, prefix),
        route::messages::new_route(&route),
    ];
    Ok(msgs
        .into_iter()
        .enumerate()
        .map(|(seq, m)| {
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
            header.sequence_number = u32::try_from(seq).unwrap_or(0) + 1;
            let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(m));
            packet.finalize();
            let mut out = vec![0; packet.buffer_len()];
            packet.serialize(&mut out);
            PyBytes::new(py, &out)
        })
        .collect())
}
