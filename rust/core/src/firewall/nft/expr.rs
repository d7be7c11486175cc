// SPDX-License-Identifier: Apache-2.0
//! nf_tables expressions: what a rule is made of in the kernel, encoded as netlink attributes
//! and printed as `nft --debug=netlink` prints them (so tests compare the two).

use std::fmt::Write as _;

use super::wire::{self, Writer};

/// A verdict: the end of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Jump(String),
}

impl Verdict {
    fn encode(&self, w: &mut Writer) {
        let (code, chain) = match self {
            Verdict::Accept => (wire::NF_ACCEPT, None),
            Verdict::Jump(c) => (wire::NFT_JUMP, Some(c)),
        };
        w.nest(wire::NFTA_DATA_VERDICT, |w| {
            w.u32(wire::NFTA_VERDICT_CODE, code);
            if let Some(chain) = chain {
                w.str(wire::NFTA_VERDICT_CHAIN, chain);
            }
        });
    }

    /// As nft writes it in a ruleset.
    pub fn text(&self) -> String {
        match self {
            Verdict::Accept => "accept".into(),
            Verdict::Jump(c) => format!("jump {c}"),
        }
    }

    fn debug(&self) -> String {
        match self {
            Verdict::Accept => "accept".into(),
            Verdict::Jump(c) => format!("jump -> {c}"),
        }
    }
}

/// Where a payload expression reads from (enum nft_payload_bases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Network = 1,
    Transport = 2,
}

/// Meta keys we use (enum nft_meta_keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    Iifname = 6,
    Oifname = 7,
    L4proto = 16,
}

/// Conntrack keys we use (enum nft_ct_keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtKey {
    State = 0,
    Status = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
}

/// `NFT_NAT_DNAT` (enum nft_nat_types).
const NFT_NAT_DNAT: u32 = 1;

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Payload {
        base: Base,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Meta {
        key: MetaKey,
        dreg: u32,
    },
    Ct {
        key: CtKey,
        dreg: u32,
    },
    /// `fib daddr type`: the route type of the destination address (RTN_LOCAL is 2).
    FibDaddrType {
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: CmpOp,
        data: Vec<u8>,
    },
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Lookup {
        sreg: u32,
        set: String,
        dreg: Option<u32>,
    },
    Verdict(Verdict),
    /// DNAT to the address and port in registers; `family` is NFPROTO_IPV4 or _IPV6.
    Dnat {
        family: u32,
        addr: u32,
        proto: u32,
    },
    Masq,
}

/// `NFTA_FIB_F_DADDR`, and `NFT_FIB_RESULT_ADDRTYPE`.
const FIB_F_DADDR: u32 = 0x2;
const FIB_RESULT_ADDRTYPE: u32 = 3;

impl Expr {
    fn name(&self) -> &'static str {
        match self {
            Expr::Payload { .. } => "payload",
            Expr::Meta { .. } => "meta",
            Expr::Ct { .. } => "ct",
            Expr::FibDaddrType { .. } => "fib",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Verdict(_) => "immediate",
            Expr::Dnat { .. } => "nat",
            Expr::Masq => "masq",
        }
    }

    /// Appends this expression as one NFTA_LIST_ELEM of NFTA_RULE_EXPRESSIONS.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.nest(wire::NFTA_LIST_ELEM, |w| {
            w.str(wire::NFTA_EXPR_NAME, self.name());
            if matches!(self, Expr::Masq) {
                return;
            }
            w.nest(wire::NFTA_EXPR_DATA, |w| self.encode_data(w));
        });
    }

    fn encode_data(&self, w: &mut Writer) {
        match self {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.u32(wire::NFTA_PAYLOAD_DREG, *dreg);
                w.u32(wire::NFTA_PAYLOAD_BASE, *base as u32);
                w.u32(wire::NFTA_PAYLOAD_OFFSET, *offset);
                w.u32(wire::NFTA_PAYLOAD_LEN, *len);
            }
            Expr::Meta { key, dreg } => {
                w.u32(wire::NFTA_META_KEY, *key as u32);
                w.u32(wire::NFTA_META_DREG, *dreg);
            }
            Expr::Ct { key, dreg } => {
                w.u32(wire::NFTA_CT_DREG, *dreg);
                w.u32(wire::NFTA_CT_KEY, *key as u32);
            }
            Expr::FibDaddrType { dreg } => {
                w.u32(wire::NFTA_FIB_DREG, *dreg);
                w.u32(wire::NFTA_FIB_RESULT, FIB_RESULT_ADDRTYPE);
                w.u32(wire::NFTA_FIB_FLAGS, FIB_F_DADDR);
            }
            Expr::Cmp { sreg, op, data } => {
                w.u32(wire::NFTA_CMP_SREG, *sreg);
                w.u32(wire::NFTA_CMP_OP, *op as u32);
                w.value(wire::NFTA_CMP_DATA, data);
            }
            Expr::Bitwise { reg, mask, xor } => {
                w.u32(wire::NFTA_BITWISE_SREG, *reg);
                w.u32(wire::NFTA_BITWISE_DREG, *reg);
                w.u32(
                    wire::NFTA_BITWISE_LEN,
                    u32::try_from(mask.len()).unwrap_or(0),
                );
                w.value(wire::NFTA_BITWISE_MASK, mask);
                w.value(wire::NFTA_BITWISE_XOR, xor);
            }
            Expr::Lookup { sreg, set, dreg } => {
                w.str(wire::NFTA_LOOKUP_SET, set);
                w.u32(wire::NFTA_LOOKUP_SREG, *sreg);
                if let Some(dreg) = dreg {
                    w.u32(wire::NFTA_LOOKUP_DREG, *dreg);
                }
            }
            Expr::Verdict(verdict) => {
                w.u32(wire::NFTA_IMMEDIATE_DREG, 0);
                w.nest(wire::NFTA_IMMEDIATE_DATA, |w| verdict.encode(w));
            }
            Expr::Dnat {
                family,
                addr,
                proto,
            } => {
                w.u32(wire::NFTA_NAT_TYPE, NFT_NAT_DNAT);
                w.u32(wire::NFTA_NAT_FAMILY, *family);
                w.u32(wire::NFTA_NAT_REG_ADDR_MIN, *addr);
                // The kernel marks the range as having a port itself (as nft leaves it to).
                w.u32(wire::NFTA_NAT_REG_PROTO_MIN, *proto);
            }
            Expr::Masq => {}
        }
    }

    /// The line `nft --debug=netlink` prints for this expression.
    pub fn debug(&self) -> String {
        match self {
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                let base = if *base == Base::Network {
                    "network"
                } else {
                    "transport"
                };
                format!("[ payload load {len}b @ {base} header + {offset} => reg {dreg} ]")
            }
            Expr::Meta { key, dreg } => {
                let key = match key {
                    MetaKey::Iifname => "iifname",
                    MetaKey::Oifname => "oifname",
                    MetaKey::L4proto => "l4proto",
                };
                format!("[ meta load {key} => reg {dreg} ]")
            }
            Expr::Ct { key, dreg } => {
                let key = match key {
                    CtKey::State => "state",
                    CtKey::Status => "status",
                };
                format!("[ ct load {key} => reg {dreg} ]")
            }
            Expr::FibDaddrType { dreg } => format!("[ fib daddr type => reg {dreg} ]"),
            Expr::Cmp { sreg, op, data } => {
                let op = if *op == CmpOp::Eq { "eq" } else { "neq" };
                format!("[ cmp {op} reg {sreg} {} ]", words(data))
            }
            Expr::Bitwise { reg, mask, xor } => format!(
                "[ bitwise reg {reg} = ( reg {reg} & {} ) ^ {} ]",
                words(mask),
                words(xor)
            ),
            Expr::Lookup { sreg, set, dreg } => {
                let mut out = format!("[ lookup reg {sreg} set {set}");
                if let Some(dreg) = dreg {
                    let _ = write!(out, " dreg {dreg}");
                }
                out + " ]"
            }
            Expr::Verdict(v) => format!("[ immediate reg 0 {} ]", v.debug()),
            Expr::Dnat {
                family,
                addr,
                proto,
            } => {
                let family = if *family == 2 { "ip" } else { "ip6" };
                format!("[ nat dnat {family} addr_min reg {addr} proto_min reg {proto} ]")
            }
            Expr::Masq => "[ masq ]".into(),
        }
    }
}

/// Register data as nft's debug output shows it: 32-bit words of the bytes, little-endian.
fn words(data: &[u8]) -> String {
    data.chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            format!("0x{:08x}", u32::from_le_bytes(word))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
