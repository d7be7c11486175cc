// SPDX-License-Identifier: Apache-2.0
//! ipMasq for bridge and ptp: an attachment's outbound traffic leaves with the node's address.
//!
//! nftables (`ip cni_masq`, `ip6 cni_masq`): `postrouting` leaves alone traffic from a pod
//! to its own subnet (sets `exempt_<prefix length>`: pod . network) and to multicast, and
//! masquerades other traffic from the pods in `sources`. An attachment is elements only,
//! commented with its id. iptables: the reference's
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
/// Sets `exempt_<prefix length>`.
const EXEMPT: &str = "exempt";
const EXEMPTIONS: &str = "exemptions";

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

/// The table's fixed part: `postrouting` consults `exemptions` (a pod's traffic to its
/// own subnet is accepted there, so not masqueraded), leaves multicast alone, and
/// masquerades what else comes from the pods in `sources`.
pub fn nft_skeleton(family: Family) -> Batch {
    let mut b = Batch::new(family, TABLE);
    let src = Field::Addr(Dir::Source);
    b.ops.push(Op::CreateTable);
    b.ops.push(Op::AddSet(Set {
        name: SOURCES.into(),
        key: vec![src],
        data: Vec::new(),
    }));
    b.ops.push(Op::AddChain(Chain {
        name: EXEMPTIONS.into(),
        base: None,
    }));
    b.ops.push(Op::AddChain(Chain {
        name: "postrouting".into(),
        base: Some(BaseChain {
            kind: "nat",
            hook: Hook::Postrouting,
            priority: 100,
        }),
    }));
    let chain = "postrouting";
    let jump = RuleBuilder::new(family).verdict(Verdict::Jump(EXEMPTIONS.into()), chain);
    b.ops.push(Op::AddRule(jump));
    let (mc, len) = multicast(if family == Family::Ip6 {
        AddrFamily::V6
    } else {
        AddrFamily::V4
    });
    let multicast = RuleBuilder::new(family).addr(Dir::Destination, mc, len, false);
    b.ops
        .push(Op::AddRule(multicast.verdict(Verdict::Accept, chain)));
    let masquerade = RuleBuilder::new(family).in_set(&[src], SOURCES);
    b.ops.push(Op::AddRule(masquerade.masquerade(chain)));
    b
}

/// The exemption set for subnets of one prefix length (pod . its network) and its rule in
/// `exemptions`, created together once per length.
pub fn nft_exempt_skeleton(family: Family, prefix: u8) -> Batch {
    let mut b = Batch::new(family, TABLE);
    let name = format!("{EXEMPT}_{prefix}");
    let key = vec![
        Field::Addr(Dir::Source),
        Field::Net(Dir::Destination, prefix),
    ];
    b.ops.push(Op::CreateSet(Set {
        name: name.clone(),
        key: key.clone(),
        data: Vec::new(),
    }));
    let rule = RuleBuilder::new(family).in_set(&key, &name);
    b.ops
        .push(Op::AddRule(rule.verdict(Verdict::Accept, EXEMPTIONS)));
    b
}

/// What an ADD needs in place: the table, and an exemption set per prefix length.
pub fn nft_skeletons(spec: &Spec, family: Family) -> Vec<Batch> {
    let mut out = vec![nft_skeleton(family)];
    let mut prefixes: Vec<u8> = spec.addrs.iter().map(|(_, p)| *p).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    out.extend(prefixes.into_iter().map(|p| nft_exempt_skeleton(family, p)));
    out
}

/// The attachment's elements (commented with its id): each address masqueraded, and
/// exempt towards its own subnet.
pub fn elements(spec: &Spec) -> Vec<(String, Element)> {
    let comment = Some(super::portmap::nft_id(
        &spec.network,
        &spec.container_id,
        &spec.ifname,
    ));
    let mut out = Vec::new();
    for (addr, prefix) in &spec.addrs {
        let key = vec![Value::Addr(*addr)];
        out.push((
            SOURCES.into(),
            Element {
                key,
                data: Vec::new(),
                comment: comment.clone(),
            },
        ));
        let key = vec![Value::Addr(*addr), Value::Net(*addr, *prefix)];
        out.push((
            format!("{EXEMPT}_{prefix}"),
            Element {
                key,
                data: Vec::new(),
                comment: comment.clone(),
            },
        ));
    }
    out
}

/// The ADD transaction for the addresses of one family (the skeleton must exist).
pub fn nft_add(spec: &Spec, family: Family, replace: &[(String, Element)]) -> Batch {
    Batch::elements(family, TABLE, replace, elements(spec))
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

/// The nat table as our ADD of `spec` left it (the attachment's part of it).
pub fn iptables_expected(spec: &Spec) -> Saved {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let (_, jumps) = iptables_rules(spec);
    let mut saved = Saved::default();
    saved.chains.insert(chain);
    saved
        .rules
        .extend(jumps.into_iter().map(|j| ("POSTROUTING".to_owned(), j)));
    saved
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
