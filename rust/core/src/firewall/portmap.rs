// SPDX-License-Identifier: Apache-2.0
//! portmap's rules: host ports forwarded to a pod, on nftables and on iptables.
//!
//! nftables (`ip cni_portmap` and `ip6 cni_portmap`): base chains `prerouting` and `output`
//! send only traffic for local addresses (`fib daddr type local`) to `hostports`, which
//! DNATs through two maps, `hostip_dnat` (host address . protocol . port) and then
//! `any_dnat` (protocol . port), to the pod's address and port. `postrouting` masquerades
//! connections DNATed to a mapping from a source network in a `hairpin_<prefix length>`
//! set (the pod's own subnet and localhost; anything with `masqAll`). An attachment is elements only, each
//! carrying its id as a comment: no rule or chain is added, so no ADD makes the kernel
//! re-validate a chain graph that grows with the node (it does for every jump to a new
//! chain), and the cost does not grow with the number of pods. The newest ADD of a (host
//! address, protocol, port) takes it: its element replaces the older one, and a DEL removes
//! only elements whose comment is still its own. nftables-syntax `conditionsV4`/`V6` go,
//! as the reference puts them, on the entry rules, which an ADD with conditions rewrites:
//! they apply to the whole table.
//!
//! iptables: the reference plugin's layout and names (`portmap_iptables.go`), so either
//! implementation removes what the other made. There too the newest ADD takes a contested
//! (host address, protocol, port): it removes the older attachment's rules for it. On both
//! backends the older attachment never gets it back (traffic cannot return to a pod that
//! may have leaked); deleting the newest closes the port.

use std::fmt::Write as _;

use super::iptables::{self, Restore, Saved};
use super::names;
use super::nft::condition::Conditions;
use super::nft::{
    BaseChain, Batch, Chain, Dir, Element, Family, Field, Hook, Op, Proto, RuleBuilder, Set, Value,
    Verdict,
};
use crate::net::{Addr, Family as AddrFamily};

pub const TABLE: &str = "cni_portmap";
const HOSTPORTS: &str = "hostports";
const HOSTIP_DNAT: &str = "hostip_dnat";
const ANY_DNAT: &str = "any_dnat";
/// Sets `hairpin_<prefix length>`.
const HAIRPIN: &str = "hairpin";

/// One mapping, already checked: ports in 1..=65535, a host address of the pod's family
/// (None: every local address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
    pub host_ip: Option<Addr>,
}

/// Everything the rules of one attachment and address family depend on.
#[derive(Debug, Clone)]
pub struct Spec {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    pub pod: Addr,
    pub prefix: u8,
    pub mappings: Vec<Mapping>,
    pub snat: bool,
    pub masq_all: bool,
    pub mark_bit: u8,
    /// The chain that marks for masquerade (iptables: `externalSetMarkChain`).
    pub set_mark_chain: Option<String>,
    /// Extra iptables match words for the jumps into the attachment's chain.
    pub iptables_conditions: Vec<String>,
    /// Extra nftables matches for the attachment's DNAT rules.
    pub nft_conditions: Conditions,
}

/// The id in our nft chain names: an attachment is (network, container, interface).
pub fn nft_id(network: &str, container_id: &str, ifname: &str) -> String {
    names::hash_with_prefix(24, "", &format!("{network}\n{container_id}\n{ifname}"))
}

fn family_of(addr: Addr) -> Family {
    Family::of(addr.family())
}

fn loopback(family: AddrFamily) -> Option<Addr> {
    (family == AddrFamily::V4).then_some(Addr {
        v6: false,
        value: 0x7f00_0001,
    })
}

/// The tables' fixed part, created once (the table is created with it, atomically, so a
/// table that exists has all of it). An attachment adds elements only.
pub fn nft_skeleton(family: Family) -> Batch {
    let mut b = Batch::new(family, TABLE);
    let nat = |hook, priority| {
        Some(BaseChain {
            kind: "nat",
            hook,
            priority,
        })
    };
    b.ops.push(Op::CreateTable);
    b.ops.push(Op::AddChain(Chain {
        name: HOSTPORTS.into(),
        base: None,
    }));
    let dst = Field::Addr(Dir::Destination);
    let to = vec![dst, Field::Dport];
    for (name, key) in [
        (HOSTIP_DNAT, vec![dst, Field::L4proto, Field::Dport]),
        (ANY_DNAT, vec![Field::L4proto, Field::Dport]),
    ] {
        b.ops.push(Op::AddSet(Set {
            name: name.into(),
            key,
            data: to.clone(),
        }));
    }
    for (name, hook, priority) in [
        ("prerouting", Hook::Prerouting, -100),
        ("output", Hook::Output, -100),
        ("postrouting", Hook::Postrouting, 100),
    ] {
        b.ops.push(Op::AddChain(Chain {
            name: name.into(),
            base: nat(hook, priority),
        }));
    }
    b.ops.extend(entry_rules(family, &Conditions::default()));
    let specific = RuleBuilder::new(family).dnat_map(
        &[dst, Field::L4proto, Field::Dport],
        HOSTIP_DNAT,
        HOSTPORTS,
    );
    b.ops.push(Op::AddRule(specific));
    let any =
        RuleBuilder::new(family).dnat_map(&[Field::L4proto, Field::Dport], ANY_DNAT, HOSTPORTS);
    b.ops.push(Op::AddRule(any));
    b
}

/// The rules that send local traffic to `hostports`, behind any conditions.
fn entry_rules(family: Family, conditions: &Conditions) -> Vec<Op> {
    ["prerouting", "output"]
        .into_iter()
        .map(|chain| {
            let rb = conditions.apply(RuleBuilder::new(family)).fib_daddr_local();
            Op::AddRule(rb.verdict(Verdict::Jump(HOSTPORTS.into()), chain))
        })
        .collect()
}

/// The hairpin set for sources of one prefix length, and the rule that masquerades by it:
/// a connection DNATed to a pod . protocol . its mapped port, from a source whose network
/// (of that length) is in the set. Created with its rule, atomically, once per length (a
/// node has few: the pods' subnets, localhost's /8, /0 for `masqAll`).
pub fn nft_hairpin_skeleton(family: Family, prefix: u8) -> Batch {
    let mut b = Batch::new(family, TABLE);
    let name = format!("{HAIRPIN}_{prefix}");
    let key = hairpin_key(prefix);
    b.ops.push(Op::CreateSet(Set {
        name: name.clone(),
        key: key.clone(),
        data: Vec::new(),
    }));
    let rule = RuleBuilder::new(family)
        .ct_status_dnat()
        .in_set(&key, &name)
        .masquerade("postrouting");
    b.ops.push(Op::AddRule(rule));
    b
}

fn hairpin_key(prefix: u8) -> Vec<Field> {
    vec![
        Field::Addr(Dir::Destination),
        Field::L4proto,
        Field::Dport,
        Field::Net(Dir::Source, prefix),
    ]
}

/// The source networks whose connections to a mapping are masqueraded: the pod's subnet
/// and localhost (IPv4), or everything with `masqAll`.
fn hairpin_sources(spec: &Spec) -> Vec<(Addr, u8)> {
    if spec.masq_all {
        return vec![(spec.pod, 0)];
    }
    let mut sources = vec![(spec.pod, spec.prefix)];
    sources.extend(loopback(spec.pod.family()).map(|lo| (lo, 8)));
    sources
}

/// What an ADD needs in place: the table, and a hairpin set per source prefix length.
pub fn nft_skeletons(spec: &Spec) -> Vec<Batch> {
    let family = family_of(spec.pod);
    let mut out = vec![nft_skeleton(family)];
    if spec.snat {
        out.extend(
            hairpin_sources(spec)
                .into_iter()
                .map(|(_, prefix)| nft_hairpin_skeleton(family, prefix)),
        );
    }
    out
}

/// Every element an attachment owns, each with its comment (the attachment's id): the
/// DNAT of each mapping and, with `snat`, its hairpin sources.
pub fn nft_elements(spec: &Spec) -> Vec<(String, Element)> {
    let comment = Some(nft_id(&spec.network, &spec.container_id, &spec.ifname));
    let mut out: Vec<(String, Element)> = Vec::new();
    for m in &spec.mappings {
        let data = vec![Value::Addr(spec.pod), Value::Port(m.container_port)];
        let (set, key) = match m.host_ip {
            Some(ip) => (
                HOSTIP_DNAT,
                vec![
                    Value::Addr(ip),
                    Value::Proto(m.proto),
                    Value::Port(m.host_port),
                ],
            ),
            None => (
                ANY_DNAT,
                vec![Value::Proto(m.proto), Value::Port(m.host_port)],
            ),
        };
        out.push((
            set.into(),
            Element {
                key,
                data,
                comment: comment.clone(),
            },
        ));
        if spec.snat {
            for (source, prefix) in hairpin_sources(spec) {
                let key = vec![
                    Value::Addr(spec.pod),
                    Value::Proto(m.proto),
                    Value::Port(m.container_port),
                    Value::Net(source, prefix),
                ];
                let element = Element {
                    key,
                    data: Vec::new(),
                    comment: comment.clone(),
                };
                out.push((format!("{HAIRPIN}_{prefix}"), element));
            }
        }
    }
    // One element per key, whatever the mappings repeat.
    let mut seen = Vec::new();
    out.retain(|(set, e)| {
        let key = (set.clone(), e.key.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    out
}

/// The ADD transaction of one attachment (the skeleton must exist). `replace` lists
/// elements of other attachments under keys this one claims: they go first.
pub fn nft_add(spec: &Spec, replace: &[(String, Element)]) -> Batch {
    let family = family_of(spec.pod);
    let mut b = Batch::elements(family, TABLE, replace, nft_elements(spec));
    if !spec.nft_conditions.is_empty() {
        let mut entry: Vec<Op> = ["prerouting", "output"]
            .into_iter()
            .map(|c| Op::FlushChain(c.into()))
            .collect();
        entry.extend(entry_rules(family, &spec.nft_conditions));
        b.ops.splice(0..0, entry);
    }
    b
}

// ---- iptables ----

pub const DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
pub const SETMARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
pub const MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";

/// The attachment's chain (the reference hashes network and container ID only).
pub fn iptables_chain(network: &str, container_id: &str) -> String {
    names::chain_name(network, container_id, "DN-")
}

/// The reference's old per-container SNAT chain, removed on DEL in case it lingers.
pub fn iptables_old_snat_chain(network: &str, container_id: &str) -> String {
    names::chain_name(network, container_id, "SN-")
}

fn mark_spec(bit: u8) -> String {
    let value = 1u32 << bit;
    format!("0x{value:x}/0x{value:x}")
}

fn proto_words(proto: Proto, port: u16) -> String {
    format!("-p {0} -m {0} --dport {port}", proto.name())
}

/// The rules of the attachment's `CNI-DN-<hash>` chain, as iptables-save prints them.
pub fn iptables_dnat_rules(spec: &Spec) -> Vec<String> {
    let v6 = spec.pod.family() == AddrFamily::V6;
    let set_mark = spec
        .set_mark_chain
        .clone()
        .unwrap_or_else(|| SETMARK_CHAIN.into());
    let mut rules = Vec::new();
    for m in &spec.mappings {
        let dst = m
            .host_ip
            .map(|ip| format!("-d {} ", iptables::cidr(ip, ip.family().bits())))
            .unwrap_or_default();
        let base = proto_words(m.proto, m.host_port);
        if spec.snat {
            let src = if spec.masq_all {
                String::new()
            } else {
                format!("-s {} ", iptables::cidr(spec.pod, spec.prefix))
            };
            rules.push(format!("{src}{dst}{base} -j {set_mark}"));
            if !v6 && !spec.masq_all {
                rules.push(format!("-s 127.0.0.1/32 {dst}{base} -j {set_mark}"));
            }
        }
        let to = if v6 {
            format!("[{}]:{}", spec.pod.ip(), m.container_port)
        } else {
            format!("{}:{}", spec.pod.ip(), m.container_port)
        };
        rules.push(format!("{dst}{base} -j DNAT --to-destination {to}"));
    }
    rules
}

/// The jumps from `CNI-HOSTPORT-DNAT`: multiport matches of at most 15 ports per protocol,
/// protocols sorted (the reference's order).
pub fn iptables_jump_rules(spec: &Spec, chain: &str) -> Vec<String> {
    let mut comment = format!("dnat {}", names::comment(&spec.network, &spec.container_id));
    if comment.len() > 255 {
        comment.truncate(253);
        comment.push_str("...");
    }
    let mut protos: Vec<Proto> = spec.mappings.iter().map(|m| m.proto).collect();
    protos.sort();
    protos.dedup();
    let mut rules = Vec::new();
    for proto in protos {
        let ports: Vec<String> = spec
            .mappings
            .iter()
            .filter(|m| m.proto == proto)
            .map(|m| m.host_port.to_string())
            .collect();
        for group in ports.chunks(15) {
            let mut rule = format!(
                "-p {} -m comment --comment {} -m multiport --dports {}",
                proto.name(),
                iptables::quote(&comment),
                group.join(",")
            );
            for word in &spec.iptables_conditions {
                rule.push(' ');
                rule.push_str(word);
            }
            let _ = write!(rule, " -j {chain}");
            rules.push(rule);
        }
    }
    rules
}

const ENTRY_DNAT: &str = "-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT";
const ENTRY_MASQ: &str =
    "-m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ";

/// The ADD script for the nat table, planned against its saved state.
pub fn iptables_add(saved: &Saved, spec: &Spec) -> Restore {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let mut r = Restore::new("nat");
    let own_mark = spec.snat && spec.set_mark_chain.is_none();
    let mark = mark_spec(spec.mark_bit);
    let setmark_rule =
        format!("-m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark {mark}");
    let masq_rule = format!("-m mark --mark {mark} -j MASQUERADE");
    if own_mark {
        r.ensure(saved, SETMARK_CHAIN);
        r.ensure(saved, MASQ_CHAIN);
    }
    r.ensure(saved, DNAT_CHAIN);
    r.declare(&chain);
    if own_mark {
        if !saved.has_rule(SETMARK_CHAIN, &setmark_rule) {
            r.append(SETMARK_CHAIN, &setmark_rule);
        }
        if !saved.has_rule(MASQ_CHAIN, &masq_rule) {
            r.append(MASQ_CHAIN, &masq_rule);
        }
        if !saved.has_rule("POSTROUTING", ENTRY_MASQ) {
            r.insert("POSTROUTING", 1, ENTRY_MASQ);
        }
    }
    for entry in ["PREROUTING", "OUTPUT"] {
        // Appended, so that an existing KUBE-SERVICES jump stays first (CVE-2019-9946).
        if !saved.has_rule(entry, ENTRY_DNAT) {
            r.append(entry, ENTRY_DNAT);
        }
    }
    for (from, rule) in saved.jumps_to(&chain) {
        r.delete(from, rule);
    }
    for (other, rule) in iptables_taken_over(saved, spec, &chain) {
        r.delete(other, rule);
    }
    for rule in iptables_dnat_rules(spec) {
        r.append(&chain, &rule);
    }
    for (i, rule) in iptables_jump_rules(spec, &chain).iter().enumerate() {
        r.insert(DNAT_CHAIN, i + 1, rule);
    }
    r
}

/// The (hostIP, port, protocol) a rule of a `CNI-DN-` chain forwards, as iptables-save
/// prints it: `[-s S] [-d D/32] -p P -m P --dport N -j ...`.
fn forwarded_key(rule: &str) -> Option<(Option<&str>, &str, &str)> {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let value = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .filter(|&i| i == 0 || words[i - 1] != "!")
            .and_then(|i| words.get(i + 1).copied())
    };
    Some((value("-d"), value("-p")?, value("--dport")?))
}

/// Rules of other attachments' `CNI-DN-` chains that forward a (hostIP, port, protocol)
/// this attachment claims: the newest ADD takes it, so they go.
fn iptables_taken_over<'a>(saved: &'a Saved, spec: &Spec, own: &str) -> Vec<(&'a str, &'a str)> {
    let claimed: Vec<(Option<String>, &str, String)> = spec
        .mappings
        .iter()
        .map(|m| {
            let host = m.host_ip.map(|ip| iptables::cidr(ip, ip.family().bits()));
            (host, m.proto.name(), m.host_port.to_string())
        })
        .collect();
    saved
        .rules
        .iter()
        .filter(|(chain, _)| chain.starts_with("CNI-DN-") && chain != own)
        .filter(|(_, rule)| {
            forwarded_key(rule).is_some_and(|(host, proto, port)| {
                claimed
                    .iter()
                    .any(|(h, p, n)| h.as_deref() == host && *p == proto && n == port)
            })
        })
        .map(|(chain, rule)| (chain.as_str(), rule.as_str()))
        .collect()
}

/// The DEL script: every jump to the attachment's chains, and the chains.
pub fn iptables_del(saved: &Saved, network: &str, container_id: &str) -> Restore {
    let mut r = Restore::new("nat");
    r.remove_chain(saved, &iptables_chain(network, container_id));
    r.remove_chain(saved, &iptables_old_snat_chain(network, container_id));
    r
}

/// The nat table as our ADD of `spec` left it (the attachment's part of it): what a DEL
/// that trusts its record plans against, without reading the whole table.
pub fn iptables_expected(spec: &Spec) -> Saved {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let mut saved = Saved::default();
    saved.chains.insert(chain.clone());
    saved.rules.extend(
        iptables_jump_rules(spec, &chain)
            .into_iter()
            .map(|r| (DNAT_CHAIN.to_owned(), r)),
    );
    saved
}

/// Containers of `network` whose reference-layout jumps are in the saved nat table but
/// that are not in `valid` (the jump comments name network and container).
pub fn iptables_stale(saved: &Saved, network: &str, valid: &[String]) -> Vec<String> {
    // As iptables-save prints the comment: `dnat name: \"<network>\" id: \"<id>\"`.
    let prefix = format!("dnat name: \\\"{network}\\\" id: ");
    let mut stale: Vec<String> = saved
        .rules_of(DNAT_CHAIN)
        .filter_map(|rule| {
            let start = rule.find(&prefix)? + prefix.len();
            let rest = rule[start..].strip_prefix("\\\"")?;
            let end = rest.find("\\\"")?;
            Some(rest[..end].to_owned())
        })
        .filter(|id| !valid.contains(id))
        .collect();
    stale.sort();
    stale.dedup();
    stale
}

/// What CHECK finds missing from the saved table (empty: all there).
pub fn iptables_missing(saved: &Saved, spec: &Spec) -> Vec<String> {
    let chain = iptables_chain(&spec.network, &spec.container_id);
    let mut missing = Vec::new();
    if !saved.has_chain(&chain) {
        missing.push(format!("chain {chain}"));
        return missing;
    }
    let have: Vec<&str> = saved.rules_of(&chain).collect();
    for rule in iptables_dnat_rules(spec) {
        if !have.contains(&rule.as_str()) {
            missing.push(format!("-A {chain} {rule}"));
        }
    }
    for rule in iptables_jump_rules(spec, &chain) {
        if !saved.has_rule(DNAT_CHAIN, &rule) {
            missing.push(format!("-A {DNAT_CHAIN} {rule}"));
        }
    }
    for entry in ["PREROUTING", "OUTPUT"] {
        if !saved.has_rule(entry, ENTRY_DNAT) {
            missing.push(format!("-A {entry} {ENTRY_DNAT}"));
        }
    }
    missing
}
