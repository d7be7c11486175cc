// SPDX-License-Identifier: Apache-2.0
//! Tables, chains, sets and elements, and the transaction that creates or removes them:
//! emitted as nft text and as one nfnetlink batch.

use std::fmt::Write as _;

use super::rule::{addr_bytes, Family, Field, Proto, Rule};
use super::wire::{self, Writer};
use crate::net::Addr;

/// A base chain's hook (NF_INET_*), type and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting = 0,
    Forward = 2,
    Output = 3,
    Postrouting = 4,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: &'static str, // "nat" or "filter"
    pub hook: Hook,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub base: Option<BaseChain>,
}

/// A named set, or (with `data`) a map, keyed by a concatenation of fields. Hash sets
/// only: a concatenation of ranges (nft's pipapo sets) costs the kernel a grace period on
/// every element removed, so networks are matched as masked fields instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub key: Vec<Field>,
    pub data: Vec<Field>,
}

/// One part of an element's key or data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Addr(Addr),
    /// A network: its address, for a field masked to its prefix length.
    Net(Addr, u8),
    Proto(Proto),
    Port(u16),
}

impl Value {
    /// The bytes in a register, padded to 32 bits.
    fn bytes(self, out: &mut Vec<u8>) {
        match self {
            Value::Addr(a) => out.extend(addr_bytes(a)),
            Value::Net(a, prefix) => {
                let value = a.value & !crate::net::host_mask(a.family(), prefix);
                out.extend(addr_bytes(Addr { value, ..a }));
            }
            Value::Proto(p) => out.push(p as u8),
            Value::Port(p) => out.extend(p.to_be_bytes()),
        }
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }

    fn text(self) -> String {
        match self {
            Value::Addr(a) => a.ip().to_string(),
            // The network's address: the field it is compared with is masked.
            Value::Net(a, prefix) => {
                let value = a.value & !crate::net::host_mask(a.family(), prefix);
                Addr { value, ..a }.ip().to_string()
            }
            Value::Proto(p) => p.name().into(),
            Value::Port(p) => p.to_string(),
        }
    }
}

fn concat_bytes(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        v.bytes(&mut out);
    }
    out
}

fn concat_text(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| v.text())
        .collect::<Vec<_>>()
        .join(" . ")
}

/// An element: a key, in a map its data, and a comment naming its owner (nft keeps it as
/// the element's userdata, and reading the element back says whose it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub key: Vec<Value>,
    pub data: Vec<Value>,
    pub comment: Option<String>,
}

impl Element {
    pub fn key_bytes(&self) -> Vec<u8> {
        concat_bytes(&self.key)
    }

    /// The same element, named by its key alone (what a delete or a lookup sends).
    #[must_use]
    pub fn key_only(&self) -> Element {
        Element {
            key: self.key.clone(),
            data: Vec::new(),
            comment: None,
        }
    }

    fn text(&self) -> String {
        let mut out = concat_text(&self.key);
        if let Some(c) = &self.comment {
            out = format!("{out} comment \"{c}\"");
        }
        if !self.data.is_empty() {
            out = format!("{out} : {}", concat_text(&self.data));
        }
        out
    }
}

/// One change of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Creates the table, failing (EEXIST) when it exists.
    CreateTable,
    AddChain(Chain),
    /// Removes every rule of a chain.
    FlushChain(String),
    AddSet(Set),
    /// Creates a set, failing (EEXIST) when it exists.
    CreateSet(Set),
    AddRule(Rule),
    AddElement(String, Element),
    DeleteElement(String, Element),
}

/// A transaction on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub family: Family,
    pub table: String,
    pub ops: Vec<Op>,
}

impl Op {
    /// What the operation is, for an error message.
    pub fn describe(&self, family: Family, table: &str) -> String {
        let t = format!("{} {table}", family.name());
        match self {
            Op::CreateTable => format!("create table {t}"),
            Op::AddChain(c) => format!("add chain {t} {}", c.name),
            Op::FlushChain(c) => format!("flush chain {t} {c}"),
            Op::CreateSet(s) => format!("create set {t} {}", s.name),
            Op::AddSet(s) => format!(
                "add {} {t} {}",
                if s.data.is_empty() { "set" } else { "map" },
                s.name
            ),
            Op::AddRule(r) => format!("add rule {t} {} {}", r.chain, r.text),
            Op::AddElement(s, e) => format!("add element {t} {s} {{ {} }}", e.text()),
            Op::DeleteElement(s, e) => format!("delete element {t} {s} {{ {} }}", e.text()),
        }
    }
}

impl Batch {
    /// An attachment's transaction on elements: `remove` (by key) first, then `add`. What
    /// an ADD sends (`remove`: elements it takes over) and a DEL (`add` empty).
    pub fn elements(
        family: Family,
        table: &str,
        remove: &[(String, Element)],
        add: Vec<(String, Element)>,
    ) -> Self {
        let mut b = Batch::new(family, table);
        b.ops.extend(
            remove
                .iter()
                .map(|(set, e)| Op::DeleteElement(set.clone(), e.clone())),
        );
        b.ops
            .extend(add.into_iter().map(|(set, e)| Op::AddElement(set, e)));
        b
    }

    pub fn new(family: Family, table: &str) -> Self {
        Batch {
            family,
            table: table.into(),
            ops: Vec::new(),
        }
    }

    /// The transaction as an `nft -f` script.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let t = format!("{} {}", self.family.name(), self.table);
        for op in &self.ops {
            let _ = match op {
                Op::AddChain(c) => match &c.base {
                    Some(b) => writeln!(
                        out,
                        "add chain {t} {} {{ type {} hook {} priority {}; policy accept; }}",
                        c.name,
                        b.kind,
                        b.hook.name(),
                        b.priority
                    ),
                    None => writeln!(out, "add chain {t} {}", c.name),
                },
                Op::AddSet(s) | Op::CreateSet(s) => {
                    let verb = if matches!(op, Op::CreateSet(_)) {
                        "create"
                    } else {
                        "add"
                    };
                    let types = |fields: &[Field]| {
                        fields
                            .iter()
                            .map(|f| f.type_name(self.family))
                            .collect::<Vec<_>>()
                            .join(" . ")
                    };
                    let (kind, data) = if s.data.is_empty() {
                        ("set", String::new())
                    } else {
                        ("map", format!(" : {}", types(&s.data)))
                    };
                    writeln!(
                        out,
                        "{verb} {kind} {t} {} {{ type {}{data}; }}",
                        s.name,
                        types(&s.key)
                    )
                }
                other => writeln!(out, "{}", other.describe(self.family, &self.table)),
            };
        }
        out
    }

    /// The messages of the batch, each with NLM_F_ACK, numbered from `seq`, between the
    /// batch begin and end messages. Returns the bytes and each message's sequence number.
    pub fn encode(&self, seq: u32) -> (Vec<u8>, Vec<u32>) {
        let mut out = Vec::new();
        let mut seqs = Vec::new();
        let mut next = seq;
        push_message(
            &mut out,
            wire::NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            next,
            0,
            wire::NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        for (index, op) in self.ops.iter().enumerate() {
            next = next.wrapping_add(1);
            seqs.push(next);
            let (kind, flags) = op.header();
            let kind = (wire::NFNL_SUBSYS_NFTABLES << 8) | kind;
            let family = self.family as u8;
            push_message(
                &mut out,
                kind,
                flags | NLM_F_REQUEST | NLM_F_ACK,
                next,
                family,
                0,
                |w| {
                    self.encode_op(op, index, w);
                },
            );
        }
        next = next.wrapping_add(1);
        push_message(
            &mut out,
            wire::NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            next,
            0,
            wire::NFNL_SUBSYS_NFTABLES,
            |_| {},
        );
        (out, seqs)
    }

    fn encode_op(&self, op: &Op, index: usize, w: &mut Writer) {
        let table = self.table.as_str();
        match op {
            Op::CreateTable => {
                w.str(wire::NFTA_TABLE_NAME, table);
                if *op == Op::CreateTable {
                    w.u32(wire::NFTA_TABLE_FLAGS, 0);
                }
            }
            Op::AddChain(c) => {
                w.str(wire::NFTA_CHAIN_TABLE, table);
                w.str(wire::NFTA_CHAIN_NAME, &c.name);
                if let Some(b) = &c.base {
                    w.nest(wire::NFTA_CHAIN_HOOK, |w| {
                        w.u32(wire::NFTA_HOOK_HOOKNUM, b.hook as u32);
                        w.u32(wire::NFTA_HOOK_PRIORITY, b.priority.cast_unsigned_compat());
                    });
                    w.u32(wire::NFTA_CHAIN_POLICY, wire::NF_ACCEPT);
                    w.str(wire::NFTA_CHAIN_TYPE, b.kind);
                }
            }
            Op::FlushChain(c) => {
                w.str(wire::NFTA_RULE_TABLE, table);
                w.str(wire::NFTA_RULE_CHAIN, c);
            }
            Op::AddSet(s) | Op::CreateSet(s) => {
                w.str(wire::NFTA_SET_TABLE, table);
                w.str(wire::NFTA_SET_NAME, &s.name);
                let mut flags = 0;
                if !s.data.is_empty() {
                    flags |= wire::NFT_SET_MAP;
                }
                if flags != 0 {
                    w.u32(wire::NFTA_SET_FLAGS, flags);
                }
                w.u32(wire::NFTA_SET_KEY_TYPE, concat_type(&s.key, self.family));
                w.u32(wire::NFTA_SET_KEY_LEN, concat_len(&s.key, self.family));
                if !s.data.is_empty() {
                    w.u32(wire::NFTA_SET_DATA_TYPE, concat_type(&s.data, self.family));
                    w.u32(wire::NFTA_SET_DATA_LEN, concat_len(&s.data, self.family));
                }
                w.u32(wire::NFTA_SET_ID, u32::try_from(index).unwrap_or(0) + 1);
            }
            Op::AddRule(r) => {
                w.str(wire::NFTA_RULE_TABLE, table);
                w.str(wire::NFTA_RULE_CHAIN, &r.chain);
                w.nest(wire::NFTA_RULE_EXPRESSIONS, |w| {
                    for e in &r.exprs {
                        e.encode(w);
                    }
                });
            }
            Op::AddElement(set, e) | Op::DeleteElement(set, e) => {
                encode_elements(w, table, set, std::slice::from_ref(e));
            }
        }
    }
}

/// A concatenation's type: its fields' types, 6 bits each (nft's TYPE_BITS).
fn concat_type(fields: &[Field], family: Family) -> u32 {
    fields
        .iter()
        .fold(0u32, |acc, f| (acc << 6) | f.type_id(family))
}

/// A concatenation's length: each field in whole 32-bit registers.
fn concat_len(fields: &[Field], family: Family) -> u32 {
    fields.iter().map(|f| f.len(family).div_ceil(4) * 4).sum()
}

/// The NFTA_SET_ELEM_LIST attributes of a list of elements of one set.
pub(crate) fn encode_elements(w: &mut Writer, table: &str, set: &str, elements: &[Element]) {
    w.str(wire::NFTA_SET_ELEM_LIST_TABLE, table);
    w.str(wire::NFTA_SET_ELEM_LIST_SET, set);
    w.nest(wire::NFTA_SET_ELEM_LIST_ELEMENTS, |w| {
        for e in elements {
            w.nest(wire::NFTA_LIST_ELEM, |w| {
                w.value(wire::NFTA_SET_ELEM_KEY, &e.key_bytes());
                if !e.data.is_empty() {
                    w.value(wire::NFTA_SET_ELEM_DATA, &concat_bytes(&e.data));
                }
                if let Some(c) = &e.comment {
                    w.attr(wire::NFTA_SET_ELEM_USERDATA, &comment_userdata(c));
                }
            });
        }
    });
}

/// An element comment as nft stores it: a TLV (NFTNL_UDATA_SET_ELEM_COMMENT, 0) of the
/// NUL-terminated text.
fn comment_userdata(comment: &str) -> Vec<u8> {
    let mut out = vec![0, u8::try_from(comment.len() + 1).unwrap_or(u8::MAX)];
    out.extend_from_slice(comment.as_bytes());
    out.push(0);
    out
}

trait CastUnsigned {
    fn cast_unsigned_compat(self) -> u32;
}

impl CastUnsigned for i32 {
    fn cast_unsigned_compat(self) -> u32 {
        u32::from_ne_bytes(self.to_ne_bytes())
    }
}

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

impl Op {
    /// The message type and header flags.
    fn header(&self) -> (u16, u16) {
        match self {
            Op::CreateTable => (wire::NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL),
            Op::AddChain(_) => (wire::NFT_MSG_NEWCHAIN, NLM_F_CREATE),
            Op::FlushChain(_) => (wire::NFT_MSG_DELRULE, 0),
            Op::AddSet(_) => (wire::NFT_MSG_NEWSET, NLM_F_CREATE),
            Op::CreateSet(_) => (wire::NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL),
            Op::AddRule(_) => (wire::NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND),
            // EXCL: an element already there (another attachment's) is an EEXIST, which the
            // ADD flow answers by taking it over.
            Op::AddElement(..) => (wire::NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL),
            Op::DeleteElement(..) => (wire::NFT_MSG_DELSETELEM, 0),
        }
    }
}

/// Appends one netlink message: header, nfgenmsg (family, version 0, resource id), body.
pub(crate) fn push_message(
    out: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    body: impl FnOnce(&mut Writer),
) {
    let mut w = Writer::default();
    w.buf.extend_from_slice(&[family, 0]);
    w.buf.extend_from_slice(&res_id.to_be_bytes());
    body(&mut w);
    let len = u32::try_from(16 + w.buf.len()).expect("netlink message over 4 GiB");
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    out.extend_from_slice(&w.buf);
}
