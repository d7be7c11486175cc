// SPDX-License-Identifier: Apache-2.0
//! ipMasq for bridge and ptp: an attachment's outbound traffic leaves with the node's address.
//!
//! nftables (`ip cni_masq`, `ip6 cni_masq`): `postrouting` dispatches by source address
//! through the verdict map `sources` to the attachment's chain `ms-<id>`, which returns for
//! its own subnets and multicast and masquerades the rest. iptables: the reference's
//! per-attachment chain `CNI-<hash>` in the nat table (`pkg/ip/ipmasq_iptables_linux.go`),
//! entered from POSTROUTING by `-s <ip>`, with the reference's comment.

use super::iptables::{self, Restore, Saved};
use super::names;
use super::nft::{
    BaseChain, Batch, Chain, Dir, Element, Family, Field, Hook, Op, RuleBuilder, Set, Value,
    Verdict,
};
use crate::net::{Addr, Family as AddrFamily};

pub const TABLE: &str = "cni_masq";
const SOURCES: &str = "sources";

/// Every address of one family the attachment has, with its prefix length.
#[derive(Debug, Clone)]
pub struct Spec {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    pub addrs: Vec<(Addr, u8)>,
}

fn multicast(family: AddrFamily) -> (Addr, u8) {
    match family {
        AddrFamily::V4 => (
            Addr {
                v6: false,
                value: 0xe000_0000,
            },
            4,
        ),
        AddrFamily::V6 => (
            Addr {
                v6: true,
                value: 0xff00_u128 << 112,
            },
            8,
        ),
    }
}

pub fn nft_chain(network: &str, container_id: &str, ifname: &str) -> String {
    format!(
        "ms-{}",
        super::portmap::nft_id(network, container_id, ifname)
    )
}

pub fn nft_skeleton(family: Family) -> Batch {
    let mut b = Batch::new(family, TABLE);
    b.ops.push(Op::CreateTable);
    b.ops.push(Op::AddSet(Set {
        name: SOURCES.into(),
        key: vec![Field::Addr(Dir::Source)],
        verdicts: true,
    }));
    b.ops.push(Op::AddChain(Chain {
        name: "postrouting".into(),
        base: Some(BaseChain {
            kind: "nat",
            hook: Hook::Postrouting,
            priority: 100,
        }),
    }));
    b.ops.push(Op::AddRule(RuleBuilder::new(family).vmap(
        &[Field::Addr(Dir::Source)],
        SOURCES,
        "postrouting",
    )));
    b
}

pub fn elements(spec: &Spec) -> Vec<(&'static str, Element)> {
    let chain = nft_chain(&spec.network, &spec.container_id, &spec.ifname);
    spec.addrs
        .iter()
        .map(|(a, _)| {
            (
                SOURCES,
                Element {
                    key: vec![Value::Addr(*a)],
                    verdict: Some(Verdict::Jump(chain.clone())),
                },
            )
        })
        .collect()
}

/// The ADD transaction for the addresses of one family (the skeleton must exist).
pub fn nft_add(spec: &Spec, family: Family, replace: &[(String, Element)]) -> Batch {
    let chain = nft_chain(&spec.network, &spec.container_id, &spec.ifname);
    let comment = format!("{} {}", spec.container_id, spec.ifname);
    let mut b = Batch::new(family, TABLE);
    b.ops.push(Op::AddChain(Chain {
        name: chain.clone(),
        base: None,
    }));
    b.ops.push(Op::FlushChain(chain.clone()));
    for (addr, prefix) in &spec.addrs {
        let rule = RuleBuilder::new(family)
            .addr(Dir::Destination, *addr, *prefix, false)
            .comment(&comment)
            .verdict(Verdict::Return, &chain);
        b.ops.push(Op::AddRule(rule));
    }
    if let Some((addr, _)) = spec.addrs.first() {
        let (mc, len) = multicast(addr.family());
        let rule = RuleBuilder::new(family)
            .addr(Dir::Destination, mc, len, false)
            .comment(&comment)
            .verdict(Verdict::Return, &chain);
        b.ops.push(Op::AddRule(rule));
        b.ops.push(Op::AddRule(
            RuleBuilder::new(family)
                .comment(&comment)
                .masquerade(&chain),
        ));
    }
    for (set, e) in replace {
        b.ops.push(Op::DeleteElement(set.clone(), e.clone()));
    }
    for (set, e) in elements(spec) {
        b.ops.push(Op::AddElement(set.into(), e));
    }
    b
}

/// The DEL transaction: the elements still pointing at the attachment, then its chain.
pub fn nft_del(family: Family, chain: &str, held: &[(String, Element)]) -> Batch {
    let mut b = Batch::new(family, TABLE);
    for (set, e) in held {
        b.ops.push(Op::DeleteElement(set.clone(), e.clone()));
    }
    b.ops.push(Op::FlushChain(chain.into()));
    b.ops.push(Op::DeleteChain(chain.into()));
    b
}

pub fn iptables_chain(network: &str, container_id: &str) -> String {
    names::chain_name(network, container_id, "")
}

/// The reference's rules, as iptables-save prints them: (chain rules, POSTROUTING jumps).
pub fn iptables_rules(spec: &Spec) -> (Vec<String>, Vec<String>) {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let comment = iptables::quote(&names::comment(&spec.network, &spec.container_id));
    let mut rules: Vec<String> = spec
        .addrs
        .iter()
        .map(|(a, p)| {
            format!(
                "-d {} -m comment --comment {comment} -j ACCEPT",
                iptables::cidr(*a, *p)
            )
        })
        .collect();
    if let Some((addr, _)) = spec.addrs.first() {
        let (mc, len) = multicast(addr.family());
        rules.push(format!(
            "! -d {} -m comment --comment {comment} -j MASQUERADE",
            iptables::cidr(mc, len)
        ));
    }
    let jumps = spec
        .addrs
        .iter()
        .map(|(a, _)| {
            format!(
                "-s {} -m comment --comment {comment} -j {chain}",
                iptables::cidr(*a, a.family().bits())
            )
        })
        .collect();
    (rules, jumps)
}

pub fn iptables_add(saved: &Saved, spec: &Spec) -> Restore {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let (rules, jumps) = iptables_rules(spec);
    let mut r = Restore::new("nat");
    r.declare(&chain);
    for rule in &rules {
        r.append(&chain, rule);
    }
    for jump in &jumps {
        if !saved.has_rule("POSTROUTING", jump) {
            r.append("POSTROUTING", jump);
        }
    }
    r
}

pub fn iptables_del(saved: &Saved, network: &str, container_id: &str) -> Restore {
    let mut r = Restore::new("nat");
    r.remove_chain(saved, &iptables_chain(network, container_id));
    r
}

pub fn iptables_missing(saved: &Saved, spec: &Spec) -> Vec<String> {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let (rules, jumps) = iptables_rules(spec);
    let mut missing: Vec<String> = rules
        .iter()
        .filter(|r| !saved.has_rule(&chain, r))
        .map(|r| format!("-A {chain} {r}"))
        .collect();
    missing.extend(
        jumps
            .iter()
            .filter(|j| !saved.has_rule("POSTROUTING", j))
            .map(|j| format!("-A POSTROUTING {j}")),
    );
    missing
}
