// SPDX-License-Identifier: Apache-2.0
//! Firewall rule text for Python (applied with `nft -f -` by the plugins).

use pyo3::prelude::*;

use super::errors::{Error, Result};

use cni_core::firewall::spoofcheck;

/// The nft transaction that sets up `macspoofchk` for one bridge port.
#[pyfunction]
pub fn spoofcheck_setup(
    host_iface: &str,
    mac: &str,
    container_id: &str,
    ifname: &str,
) -> Result<String> {
    spoofcheck::setup_script(host_iface, mac, &spoofcheck::ref_id(container_id, ifname))
        .map_err(Error::value)
}

/// The nft transaction that removes it: the PREROUTING jumps (rule handles) and the chains.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts arguments as owned values
pub fn spoofcheck_teardown(
    container_id: &str,
    ifname: &str,
    jump_handles: Vec<u64>,
    chains_exist: bool,
) -> Result<String> {
    spoofcheck::teardown_script(
        &spoofcheck::ref_id(container_id, ifname),
        &jump_handles,
        chains_exist,
    )
    .map_err(Error::value)
}

use cni_core::firewall::iptables::Saved;
use cni_core::firewall::nft::{self, apply, Batch, NftSocket};
use cni_core::firewall::{forward, masq, portmap};
use cni_core::net::{parse_cidr, Addr};

fn cidr(text: &str) -> Result<(Addr, u8)> {
    parse_cidr(text).ok_or_else(|| Error::value(format!("invalid CIDR {text:?}")))
}

fn addr(text: &str) -> Result<Addr> {
    Addr::parse(text).ok_or_else(|| Error::value(format!("invalid IP address {text:?}")))
}

fn socket() -> Result<NftSocket> {
    Ok(NftSocket::open()?)
}

/// Whether nf_tables can be used here (the reason when not).
#[pyfunction]
pub fn nft_usable() -> Option<String> {
    match NftSocket::open().and_then(|mut s| s.probe()) {
        Ok(()) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// One nf_tables transaction: its nft text, its expressions as `nft --debug=netlink` lists
/// them, and a way to send it.
#[pyclass(frozen, name = "NftBatch", module = "cni._native")]
pub struct PyNftBatch {
    batch: Batch,
}

#[pymethods]
impl PyNftBatch {
    /// The transaction as an `nft -f` script.
    fn text(&self) -> String {
        self.batch.text()
    }

    /// Each rule's expressions, one debug line each.
    fn debug(&self) -> Vec<Vec<String>> {
        self.batch
            .ops
            .iter()
            .filter_map(|op| match op {
                nft::Op::AddRule(r) => Some(r.exprs.iter().map(nft::expr::Expr::debug).collect()),
                _ => None,
            })
            .collect()
    }

    /// Sends the transaction (all or nothing).
    fn apply(&self) -> Result<()> {
        let mut sock = socket()?;
        sock.apply(&self.batch).map_err(|e| match e {
            Ok(r) => {
                let (index, errno) = r.failures[0];
                let what = self.batch.ops[index].describe(self.batch.family, &self.batch.table);
                Error::Netlink(cni_core::netlink::NetlinkError::new(&what, errno))
            }
            Err(e) => Error::Netlink(e),
        })
    }
}

fn wrap(batches: Vec<Batch>) -> Vec<PyNftBatch> {
    batches
        .into_iter()
        .map(|batch| PyNftBatch { batch })
        .collect()
}

/// portmap's rules for one attachment and one address family.
#[pyclass(frozen, name = "PortmapRules", module = "cni._native")]
pub struct PyPortmapRules {
    spec: portmap::Spec,
}

type MappingTuple = (i64, i64, String, Option<String>);

fn mapping(
    pod: Addr,
    (host, container, proto, host_ip): &MappingTuple,
) -> Result<portmap::Mapping> {
    let port = |value: i64, what: &str| {
        u16::try_from(value)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::value(format!("invalid {what} {value}: a port is 1 to 65535")))
    };
    let proto = nft::Proto::parse(proto)
        .ok_or_else(|| Error::value(format!("unknown protocol {proto:?}")))?;
    let host_ip = match host_ip.as_deref() {
        None | Some("") => None,
        Some(text) => {
            let ip = addr(text)?.unmapped();
            if ip.family() != pod.family() {
                return Err(Error::value(format!(
                    "hostIP {text} is not of the pod address's family"
                )));
            }
            (ip.value != 0).then_some(ip)
        }
    };
    Ok(portmap::Mapping {
        host_port: port(*host, "hostPort")?,
        container_port: port(*container, "containerPort")?,
        proto,
        host_ip,
    })
}

#[pymethods]
impl PyPortmapRules {
    #[new]
    #[pyo3(signature = (network, container_id, ifname, pod, mappings, snat=true, masq_all=false, mark_bit=13, set_mark_chain=None, conditions=Vec::new()))]
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
    fn new(
        network: String,
        container_id: String,
        ifname: String,
        pod: &str,
        mappings: Vec<MappingTuple>,
        snat: bool,
        masq_all: bool,
        mark_bit: u8,
        set_mark_chain: Option<String>,
        conditions: Vec<String>,
    ) -> Result<Self> {
        let (pod, prefix) = cidr(pod)?;
        let pod = pod.unmapped();
        if mark_bit > 31 {
            return Err(Error::value(format!(
                "markMasqBit {mark_bit} is not in 0-31"
            )));
        }
        let mappings = mappings
            .iter()
            .map(|m| mapping(pod, m))
            .collect::<Result<Vec<_>>>()?;
        // The reference's rule: a condition starting with `-` or `!` is iptables syntax.
        let iptables_syntax = conditions
            .first()
            .is_some_and(|c| c.starts_with(['-', '!']));
        let nft_conditions = if iptables_syntax {
            nft::condition::Conditions::default()
        } else {
            nft::condition::Conditions::parse(nft::Family::of(pod.family()), &conditions)
                .map_err(Error::value)?
        };
        let iptables_conditions = if iptables_syntax {
            conditions
                .iter()
                .flat_map(|c| c.split_whitespace().map(str::to_owned))
                .collect()
        } else {
            Vec::new()
        };
        Ok(PyPortmapRules {
            spec: portmap::Spec {
                network,
                container_id,
                ifname,
                pod,
                prefix: prefix.min(pod.family().bits()),
                mappings,
                snat,
                masq_all,
                mark_bit,
                set_mark_chain,
                iptables_conditions,
                nft_conditions,
            },
        })
    }

    /// The skeletons and the ADD transaction (as `nft_add` would first send them).
    fn nft_batches(&self) -> Vec<PyNftBatch> {
        let mut batches = portmap::nft_skeletons(&self.spec);
        batches.push(portmap::nft_add(&self.spec, &[]));
        wrap(batches)
    }

    fn nft_add(&self) -> Result<()> {
        let mut sock = socket()?;
        apply::add(&mut sock, &portmap::nft_skeletons(&self.spec), |replace| {
            portmap::nft_add(&self.spec, replace)
        })?;
        Ok(())
    }

    fn nft_del(&self) -> Result<()> {
        let family = nft::Family::of(self.spec.pod.family());
        let mut sock = socket()?;
        let held = apply::still_held(
            &mut sock,
            family,
            portmap::TABLE,
            &portmap::nft_elements(&self.spec),
        )?;
        apply::remove(
            &mut sock,
            Batch::elements(family, portmap::TABLE, &held, Vec::new()),
        )?;
        Ok(())
    }

    /// What is missing from the kernel (empty: all there).
    fn nft_check(&self) -> Result<Vec<String>> {
        let family = nft::Family::of(self.spec.pod.family());
        let owned = portmap::nft_elements(&self.spec);
        Ok(apply::missing(
            &mut socket()?,
            family,
            portmap::TABLE,
            &owned,
        )?)
    }

    /// The iptables-restore script of ADD, planned against `iptables-save -t nat` output.
    fn iptables_add(&self, saved: &str) -> String {
        portmap::iptables_add(&Saved::parse(saved, "nat"), &self.spec).text()
    }

    /// The DEL script; without `saved`, planned against what our ADD left (one exec less,
    /// and the caller falls back on iptables-save when it does not apply).
    #[pyo3(signature = (saved=None))]
    fn iptables_del(&self, saved: Option<&str>) -> String {
        let saved = saved.map_or_else(
            || portmap::iptables_expected(&self.spec),
            |s| Saved::parse(s, "nat"),
        );
        portmap::iptables_del(&saved, &self.spec.network, &self.spec.container_id).text()
    }

    fn iptables_check(&self, saved: &str) -> Vec<String> {
        portmap::iptables_missing(&Saved::parse(saved, "nat"), &self.spec)
    }
}

/// Containers of `network` with reference-layout portmap chains that are not in `valid`.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
pub fn portmap_iptables_stale(saved: &str, network: &str, valid: Vec<String>) -> Vec<String> {
    portmap::iptables_stale(&Saved::parse(saved, "nat"), network, &valid)
}

/// Deletes conntrack entries of UDP connections to these ports (both families); returns
/// how many.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
pub fn conntrack_flush_udp_ports(ports: Vec<u16>) -> Result<usize> {
    Ok(cni_core::netlink::conntrack::delete_udp_to_ports(
        &mut socket()?,
        &ports,
    )?)
}

/// The iptables DEL script for an attachment whose mappings are not known.
#[pyfunction]
pub fn portmap_iptables_del(saved: &str, network: &str, container_id: &str) -> String {
    portmap::iptables_del(&Saved::parse(saved, "nat"), network, container_id).text()
}

/// ipMasq (bridge, ptp): one attachment's addresses of one family.
#[pyclass(frozen, name = "MasqRules", module = "cni._native")]
pub struct PyMasqRules {
    spec: masq::Spec,
}

fn family_of(addrs: &[(Addr, u8)]) -> Result<nft::Family> {
    let first = addrs.first().ok_or_else(|| Error::value("no addresses"))?;
    if addrs.iter().any(|(a, _)| a.family() != first.0.family()) {
        return Err(Error::value("addresses of both families in one rule set"));
    }
    Ok(nft::Family::of(first.0.family()))
}

#[pymethods]
impl PyMasqRules {
    #[new]
    #[allow(clippy::needless_pass_by_value)]
    fn new(
        network: String,
        container_id: String,
        ifname: String,
        addrs: Vec<String>,
    ) -> Result<Self> {
        let addrs = addrs
            .iter()
            .map(|a| cidr(a).map(|(a, p)| (a.unmapped(), p.min(a.unmapped().family().bits()))))
            .collect::<Result<Vec<_>>>()?;
        family_of(&addrs)?;
        Ok(PyMasqRules {
            spec: masq::Spec {
                network,
                container_id,
                ifname,
                addrs,
            },
        })
    }

    fn nft_batches(&self) -> Result<Vec<PyNftBatch>> {
        let family = family_of(&self.spec.addrs)?;
        let mut batches = masq::nft_skeletons(&self.spec, family);
        batches.push(masq::nft_add(&self.spec, family, &[]));
        Ok(wrap(batches))
    }

    fn nft_add(&self) -> Result<()> {
        let family = family_of(&self.spec.addrs)?;
        apply::add(
            &mut socket()?,
            &masq::nft_skeletons(&self.spec, family),
            |r| masq::nft_add(&self.spec, family, r),
        )?;
        Ok(())
    }

    fn nft_del(&self) -> Result<()> {
        let family = family_of(&self.spec.addrs)?;
        let mut sock = socket()?;
        let held = apply::still_held(&mut sock, family, masq::TABLE, &masq::elements(&self.spec))?;
        apply::remove(
            &mut sock,
            Batch::elements(family, masq::TABLE, &held, Vec::new()),
        )?;
        Ok(())
    }

    fn nft_check(&self) -> Result<Vec<String>> {
        let family = family_of(&self.spec.addrs)?;
        Ok(apply::missing(
            &mut socket()?,
            family,
            masq::TABLE,
            &masq::elements(&self.spec),
        )?)
    }

    fn iptables_add(&self, saved: &str) -> String {
        masq::iptables_add(&Saved::parse(saved, "nat"), &self.spec).text()
    }

    /// As PortmapRules.iptables_del.
    #[pyo3(signature = (saved=None))]
    fn iptables_del(&self, saved: Option<&str>) -> String {
        let saved = saved.map_or_else(
            || masq::iptables_expected(&self.spec),
            |s| Saved::parse(s, "nat"),
        );
        masq::iptables_del(&saved, &self.spec.network, &self.spec.container_id).text()
    }

    fn iptables_check(&self, saved: &str) -> Vec<String> {
        masq::iptables_missing(&Saved::parse(saved, "nat"), &self.spec)
    }
}

/// The iptables ipMasq DEL script when the addresses are not known.
#[pyfunction]
pub fn masq_iptables_del(saved: &str, network: &str, container_id: &str) -> String {
    masq::iptables_del(&Saved::parse(saved, "nat"), network, container_id).text()
}

/// The firewall plugin: one attachment's addresses of one family.
#[pyclass(frozen, name = "ForwardRules", module = "cni._native")]
pub struct PyForwardRules {
    /// The attachment's id: the comment of its elements.
    id: String,
    admin: String,
    addrs: Vec<Addr>,
}

impl PyForwardRules {
    fn family(&self) -> nft::Family {
        nft::Family::of(self.addrs[0].family())
    }
}

#[pymethods]
impl PyForwardRules {
    #[new]
    #[allow(clippy::needless_pass_by_value)]
    fn new(
        network: &str,
        container_id: &str,
        ifname: &str,
        addrs: Vec<String>,
        admin: String,
    ) -> Result<Self> {
        let addrs = addrs
            .iter()
            .map(|a| addr(a).map(Addr::unmapped))
            .collect::<Result<Vec<_>>>()?;
        family_of(&addrs.iter().map(|a| (*a, 0)).collect::<Vec<_>>())?;
        Ok(PyForwardRules {
            id: portmap::nft_id(network, container_id, ifname),
            admin,
            addrs,
        })
    }

    fn nft_batches(&self) -> Vec<PyNftBatch> {
        let family = self.family();
        wrap(vec![
            forward::nft_skeleton(family),
            forward::nft_add(family, &self.id, &self.addrs, &[]),
        ])
    }

    fn nft_add(&self) -> Result<()> {
        let family = self.family();
        apply::add(&mut socket()?, &[forward::nft_skeleton(family)], |r| {
            forward::nft_add(family, &self.id, &self.addrs, r)
        })?;
        Ok(())
    }

    fn nft_del(&self) -> Result<()> {
        let family = self.family();
        let mut sock = socket()?;
        let owned = forward::nft_elements(&self.id, &self.addrs);
        let held = apply::still_held(&mut sock, family, forward::TABLE, &owned)?;
        apply::remove(
            &mut sock,
            Batch::elements(family, forward::TABLE, &held, Vec::new()),
        )?;
        Ok(())
    }

    fn nft_check(&self) -> Result<Vec<String>> {
        let owned = forward::nft_elements(&self.id, &self.addrs);
        Ok(apply::missing(
            &mut socket()?,
            self.family(),
            forward::TABLE,
            &owned,
        )?)
    }

    fn iptables_add(&self, saved: &str) -> String {
        forward::iptables_add(&Saved::parse(saved, "filter"), &self.admin, &self.addrs).text()
    }

    fn iptables_del(&self, saved: &str) -> String {
        forward::iptables_del(&Saved::parse(saved, "filter"), &self.addrs).text()
    }

    fn iptables_check(&self, saved: &str) -> Vec<String> {
        forward::iptables_missing(&Saved::parse(saved, "filter"), &self.admin, &self.addrs)
    }
}

/// The firewall plugin's ingress isolation for a bridge (iptables, filter table).
#[pyfunction]
pub fn isolation_iptables(saved: &str, bridge: &str, isolated: bool) -> String {
    forward::iptables_isolation(&Saved::parse(saved, "filter"), bridge, isolated).text()
}
