// SPDX-License-Identifier: Apache-2.0
//! The firewall plugin's rules: forwarded traffic of the pod's addresses accepted (replies to
//! it, anything from it), after an admin chain the operator owns.
//!
//! iptables: the reference's filter chains `CNI-FORWARD` (first in FORWARD) and the admin
//! chain (`CNI-ADMIN` by default, first in CNI-FORWARD), and the ingress isolation chains
//! `CNI-ISOLATION-STAGE-1`/`-2` (`plugins/meta/firewall/{iptables,ingresspolicy}.go`).
//! nftables (`ip cni_firewall`, `ip6 cni_firewall`): `forward` (filter, priority 0) jumps
//! to `admin`, then accepts replies to and anything from the addresses in the set `pods`
//! (an attachment is its elements, commented with its id).

use super::iptables::{self, Restore, Saved};
use super::nft::{
    BaseChain, Batch, Chain, Dir, Element, Family, Field, Hook, Op, RuleBuilder, Set, Value,
    Verdict,
};
use crate::net::Addr;

pub const TABLE: &str = "cni_firewall";
const PODS: &str = "pods";
pub const FORWARD_CHAIN: &str = "CNI-FORWARD";
const FILTER_RULE: &str = "-m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD";
const STAGE1: &str = "CNI-ISOLATION-STAGE-1";
const STAGE2: &str = "CNI-ISOLATION-STAGE-2";

fn admin_rule(admin: &str) -> String {
    format!("-m comment --comment \"CNI firewall plugin admin overrides\" -j {admin}")
}

/// The per-address rules in CNI-FORWARD.
pub fn iptables_rules(addrs: &[Addr]) -> Vec<String> {
    let mut out = Vec::new();
    for a in addrs {
        let one = iptables::cidr(*a, a.family().bits());
        out.push(format!(
            "-d {one} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ));
        out.push(format!("-s {one} -j ACCEPT"));
    }
    out
}

pub fn iptables_add(saved: &Saved, admin: &str, addrs: &[Addr]) -> Restore {
    let mut r = Restore::new("filter");
    r.ensure(saved, FORWARD_CHAIN);
    r.ensure(saved, admin);
    if !saved.has_rule("FORWARD", FILTER_RULE) {
        r.insert("FORWARD", 1, FILTER_RULE);
    }
    let admin_jump = admin_rule(admin);
    if !saved.has_rule(FORWARD_CHAIN, &admin_jump) {
        r.insert(FORWARD_CHAIN, 1, &admin_jump);
    }
    for rule in iptables_rules(addrs) {
        if !saved.has_rule(FORWARD_CHAIN, &rule) {
            r.append(FORWARD_CHAIN, &rule);
        }
    }
    r
}

pub fn iptables_del(saved: &Saved, addrs: &[Addr]) -> Restore {
    let mut r = Restore::new("filter");
    for rule in iptables_rules(addrs) {
        if saved.has_rule(FORWARD_CHAIN, &rule) {
            r.delete(FORWARD_CHAIN, &rule);
        }
    }
    r
}

pub fn iptables_missing(saved: &Saved, admin: &str, addrs: &[Addr]) -> Vec<String> {
    let mut missing = Vec::new();
    if !saved.has_rule("FORWARD", FILTER_RULE) {
        missing.push(format!("-A FORWARD {FILTER_RULE}"));
    }
    let admin_jump = admin_rule(admin);
    if !saved.has_rule(FORWARD_CHAIN, &admin_jump) {
        missing.push(format!("-A {FORWARD_CHAIN} {admin_jump}"));
    }
    for rule in iptables_rules(addrs) {
        if !saved.has_rule(FORWARD_CHAIN, &rule) {
            missing.push(format!("-A {FORWARD_CHAIN} {rule}"));
        }
    }
    missing
}

fn policy_comment(policy: &str) -> String {
    format!("-m comment --comment \"CNI firewall plugin rules (ingressPolicy: {policy})\"")
}

const DEFAULT_POLICY_COMMENT: &str =
    "-m comment --comment \"CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)\"";

/// Ingress isolation for a bridge (`same-bridge`, or `isolated` also between its own ports).
pub fn iptables_isolation(saved: &Saved, bridge: &str, isolated: bool) -> Restore {
    let policy = if isolated { "isolated" } else { "same-bridge" };
    let mut r = Restore::new("filter");
    r.ensure(saved, STAGE1);
    r.ensure(saved, STAGE2);
    let jump1 = format!("{DEFAULT_POLICY_COMMENT} -j {STAGE1}");
    if !saved.has_rule("FORWARD", &jump1) {
        r.insert("FORWARD", 1, &jump1);
    }
    let pc = policy_comment(policy);
    let bridge_rule = format!("-i {bridge} ! -o {bridge} {pc} -j {STAGE2}");
    if !saved.has_rule(STAGE1, &bridge_rule) {
        r.insert(STAGE1, 1, &bridge_rule);
    }
    let drop_rule = format!("-i {bridge} -o {bridge} {pc} -j DROP");
    if isolated && !saved.has_rule(STAGE1, &drop_rule) {
        r.insert(STAGE1, 1, &drop_rule);
    }
    let ret = format!("{DEFAULT_POLICY_COMMENT} -j RETURN");
    if !saved.has_rule(STAGE1, &ret) {
        r.append(STAGE1, &ret);
    }
    let stage2 = format!("-o {bridge} {DEFAULT_POLICY_COMMENT} -j DROP");
    if !saved.has_rule(STAGE2, &stage2) {
        r.insert(STAGE2, 1, &stage2);
    }
    if !saved.has_rule(STAGE2, &ret) {
        r.append(STAGE2, &ret);
    }
    r
}

/// The table's fixed part: the admin chain first, then replies to the pods and anything
/// from them accepted.
pub fn nft_skeleton(family: Family) -> Batch {
    let mut b = Batch::new(family, TABLE);
    let (src, dst) = (Field::Addr(Dir::Source), Field::Addr(Dir::Destination));
    b.ops.push(Op::CreateTable);
    b.ops.push(Op::AddChain(Chain {
        name: "admin".into(),
        base: None,
    }));
    b.ops.push(Op::AddSet(Set {
        name: PODS.into(),
        key: vec![dst],
        data: Vec::new(),
    }));
    b.ops.push(Op::AddChain(Chain {
        name: "forward".into(),
        base: Some(BaseChain {
            kind: "filter",
            hook: Hook::Forward,
            priority: 0,
        }),
    }));
    let chain = "forward";
    b.ops.push(Op::AddRule(
        RuleBuilder::new(family).verdict(Verdict::Jump("admin".into()), chain),
    ));
    let replies = RuleBuilder::new(family)
        .in_set(&[dst], PODS)
        .ct_established_related();
    b.ops
        .push(Op::AddRule(replies.verdict(Verdict::Accept, chain)));
    b.ops.push(Op::AddRule(
        RuleBuilder::new(family)
            .in_set(&[src], PODS)
            .verdict(Verdict::Accept, chain),
    ));
    b
}

/// The attachment's elements: its addresses, commented with its id.
pub fn nft_elements(id: &str, addrs: &[Addr]) -> Vec<(String, Element)> {
    addrs
        .iter()
        .map(|a| {
            (
                PODS.into(),
                Element {
                    key: vec![Value::Addr(*a)],
                    data: Vec::new(),
                    comment: Some(id.into()),
                },
            )
        })
        .collect()
}

pub fn nft_add(family: Family, id: &str, addrs: &[Addr], replace: &[(String, Element)]) -> Batch {
    Batch::elements(family, TABLE, replace, nft_elements(id, addrs))
}
