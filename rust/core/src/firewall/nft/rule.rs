// SPDX-License-Identifier: Apache-2.0
//! Rules built once and emitted twice: as nf_tables expressions (for the netlink batch) and
//! as nft text (for `nft -f`, golden tests and diagnostics). Each builder method appends both
//! halves, so the two emitters cannot drift apart.

use super::expr::{Base, CmpOp, CtKey, Expr, MetaKey, Verdict};
use crate::net::{Addr, Family as AddrFamily};

/// The nf_tables family of a table (NFPROTO_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ip = 2,
    Ip6 = 10,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    /// The table family for one address family.
    pub fn of(family: AddrFamily) -> Family {
        match family {
            AddrFamily::V4 => Family::Ip,
            AddrFamily::V6 => Family::Ip6,
        }
    }

    fn addr_family(self) -> AddrFamily {
        if self == Family::Ip6 {
            AddrFamily::V6
        } else {
            AddrFamily::V4
        }
    }

    /// The NFPROTO of the addresses NAT in this table rewrites.
    fn addr_family_nfproto(self) -> u32 {
        if self == Family::Ip6 {
            10
        } else {
            2
        }
    }
}

/// A transport protocol a mapping names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp = 6,
    Udp = 17,
    Sctp = 132,
}

impl Proto {
    pub fn parse(text: &str) -> Option<Proto> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// Which address of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Source,
    Destination,
}

/// A field of a set's key (and the packet field a lookup loads into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Addr(Dir),
    /// An address masked to a prefix length (its network).
    Net(Dir, u8),
    L4proto,
    Dport,
}

impl Field {
    /// nft's datatype id (`TYPE_IPADDR` 7, `TYPE_IP6ADDR` 8, `TYPE_INET_PROTOCOL` 12,
    /// `TYPE_INET_SERVICE` 13).
    pub(crate) fn type_id(self, family: Family) -> u32 {
        match self {
            Field::Addr(_) | Field::Net(..) if family == Family::Ip6 => 8,
            Field::Addr(_) | Field::Net(..) => 7,
            Field::L4proto => 12,
            Field::Dport => 13,
        }
    }

    pub(crate) fn type_name(self, family: Family) -> &'static str {
        match self {
            Field::Addr(_) | Field::Net(..) if family == Family::Ip6 => "ipv6_addr",
            Field::Addr(_) | Field::Net(..) => "ipv4_addr",
            Field::L4proto => "inet_proto",
            Field::Dport => "inet_service",
        }
    }

    /// Bytes the field takes in a register.
    pub(crate) fn len(self, family: Family) -> u32 {
        match self {
            Field::Addr(_) | Field::Net(..) if family == Family::Ip6 => 16,
            Field::Addr(_) | Field::Net(..) => 4,
            Field::L4proto => 1,
            Field::Dport => 2,
        }
    }

    fn text(self, family: Family) -> String {
        match self {
            Field::Addr(dir) => format!("{} {}", family.name(), addr_word(dir)),
            Field::Net(dir, prefix) => {
                let mask = crate::net::netmask(family.addr_family(), prefix);
                format!("{} {} & {}", family.name(), addr_word(dir), mask.ip())
            }
            Field::L4proto => "meta l4proto".into(),
            Field::Dport => "th dport".into(),
        }
    }

    /// The expressions that put the field in `dreg`.
    fn load(self, family: Family, dreg: u32, out: &mut Vec<Expr>) {
        out.push(match self {
            Field::Addr(dir) | Field::Net(dir, _) => {
                let (offset, len) = addr_offset(family, dir);
                Expr::Payload {
                    base: Base::Network,
                    offset,
                    len,
                    dreg,
                }
            }
            Field::L4proto => Expr::Meta {
                key: MetaKey::L4proto,
                dreg,
            },
            Field::Dport => Expr::Payload {
                base: Base::Transport,
                offset: 2,
                len: 2,
                dreg,
            },
        });
        if let Field::Net(_, prefix) = self {
            let all = addr_bytes(crate::net::netmask(family.addr_family(), prefix));
            let xor = vec![0; all.len()];
            out.push(Expr::Bitwise {
                reg: dreg,
                mask: all,
                xor,
            });
        }
    }
}

fn addr_word(dir: Dir) -> &'static str {
    if dir == Dir::Source {
        "saddr"
    } else {
        "daddr"
    }
}

/// Offset and length of an address in the IPv4 or IPv6 header.
fn addr_offset(family: Family, dir: Dir) -> (u32, u32) {
    match (family == Family::Ip6, dir) {
        (false, Dir::Source) => (12, 4),
        (false, Dir::Destination) => (16, 4),
        (true, Dir::Source) => (8, 16),
        (true, Dir::Destination) => (24, 16),
    }
}

/// The register a concatenation's next field goes to, `words` 32-bit words in. Fields sit
/// in 32-bit registers (NFT_REG32_00 is 8); as nft does, one on a 16-byte boundary is named
/// by its 128-bit register (NFT_REG_1 is 1), which is the same storage.
fn concat_reg(words: u32) -> u32 {
    if words % 4 == 0 {
        1 + words / 4
    } else {
        8 + words
    }
}

/// The bytes of an address in network order.
pub fn addr_bytes(addr: Addr) -> Vec<u8> {
    match addr.ip() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// One rule: its chain, its expressions and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: String,
    pub exprs: Vec<Expr>,
    pub text: String,
}

/// Builds a [`Rule`] match by match; a terminal method (a verdict, a lookup in a verdict
/// map, NAT) ends it.
pub struct RuleBuilder {
    family: Family,
    exprs: Vec<Expr>,
    words: Vec<String>,
}

// ct state bits (IP_CT_ESTABLISHED and IP_CT_RELATED as nft's ct state), IPS_DST_NAT.
const CT_STATE_ESTABLISHED_RELATED: u32 = 0x2 | 0x4;
const IPS_DST_NAT: u32 = 0x20;

impl RuleBuilder {
    pub fn new(family: Family) -> Self {
        RuleBuilder {
            family,
            exprs: Vec::new(),
            words: Vec::new(),
        }
    }

    fn cmp(&mut self, op: CmpOp, data: Vec<u8>) {
        self.exprs.push(Expr::Cmp { sreg: 1, op, data });
    }

    /// Matches an address against a prefix (a whole address with the full length). As nft
    /// does, a prefix on a byte boundary loads only its bytes; any other is masked.
    #[must_use]
    pub fn addr(mut self, dir: Dir, addr: Addr, prefix: u8, negate: bool) -> Self {
        let family = self.family;
        let (offset, len) = addr_offset(family, dir);
        let bytes = addr_bytes(addr);
        let full = u8::try_from(len * 8).unwrap_or(128);
        let op = if negate { CmpOp::Neq } else { CmpOp::Eq };
        if prefix % 8 == 0 {
            let n = u32::from(prefix / 8);
            self.exprs.push(Expr::Payload {
                base: Base::Network,
                offset,
                len: n,
                dreg: 1,
            });
            self.cmp(op, bytes[..n as usize].to_vec());
        } else {
            let mask: Vec<u8> = (0..len)
                .map(|i| {
                    let bits = u32::from(prefix).saturating_sub(i * 8).min(8);
                    u8::try_from((0xff_u16 << (8 - bits)) & 0xff).unwrap_or(0)
                })
                .collect();
            let net: Vec<u8> = bytes.iter().zip(&mask).map(|(b, m)| b & m).collect();
            self.exprs.push(Expr::Payload {
                base: Base::Network,
                offset,
                len,
                dreg: 1,
            });
            self.exprs.push(Expr::Bitwise {
                reg: 1,
                mask,
                xor: vec![0; len as usize],
            });
            self.cmp(op, net);
        }
        let value = if prefix == full {
            addr.ip().to_string()
        } else {
            crate::net::cidr_network((addr, prefix))
        };
        let neg = if negate { "!= " } else { "" };
        self.words
            .push(format!("{} {} {neg}{value}", family.name(), addr_word(dir)));
        self
    }

    /// `iifname`/`oifname` equal (or not) to a validated interface name.
    #[must_use]
    pub fn ifname(mut self, dir: Dir, name: &str, negate: bool) -> Self {
        let key = if dir == Dir::Source {
            MetaKey::Iifname
        } else {
            MetaKey::Oifname
        };
        self.exprs.push(Expr::Meta { key, dreg: 1 });
        let mut data = name.as_bytes().to_vec();
        data.resize(16, 0); // IFNAMSIZ, NUL-padded
        self.cmp(if negate { CmpOp::Neq } else { CmpOp::Eq }, data);
        let word = if dir == Dir::Source {
            "iifname"
        } else {
            "oifname"
        };
        let neg = if negate { "!= " } else { "" };
        self.words.push(format!("{word} {neg}\"{name}\""));
        self
    }

    /// `fib daddr type local`: only traffic for this host's own addresses.
    #[must_use]
    pub fn fib_daddr_local(mut self) -> Self {
        self.exprs.push(Expr::FibDaddrType { dreg: 1 });
        self.cmp(CmpOp::Eq, 2u32.to_ne_bytes().to_vec()); // RTN_LOCAL, in host order
        self.words.push("fib daddr type local".into());
        self
    }

    fn ct_bits(&mut self, key: CtKey, bits: u32) {
        self.exprs.push(Expr::Ct { key, dreg: 1 });
        self.exprs.push(Expr::Bitwise {
            reg: 1,
            mask: bits.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        });
        self.cmp(CmpOp::Neq, vec![0; 4]);
    }

    #[must_use]
    pub fn ct_established_related(mut self) -> Self {
        self.ct_bits(CtKey::State, CT_STATE_ESTABLISHED_RELATED);
        self.words.push("ct state established,related".into());
        self
    }

    #[must_use]
    pub fn ct_status_dnat(mut self) -> Self {
        self.ct_bits(CtKey::Status, IPS_DST_NAT);
        self.words.push("ct status dnat".into());
        self
    }

    fn load_fields(&mut self, fields: &[Field]) -> String {
        let mut words = 0;
        for field in fields {
            field.load(self.family, concat_reg(words), &mut self.exprs);
            words += field.len(self.family).div_ceil(4);
        }
        fields
            .iter()
            .map(|f| f.text(self.family))
            .collect::<Vec<_>>()
            .join(" . ")
    }

    /// A lookup of the packet's fields in a named set (`negate`: not in it).
    #[must_use]
    pub fn in_set(mut self, fields: &[Field], set: &str) -> Self {
        let text = self.load_fields(fields);
        self.exprs.push(Expr::Lookup {
            sreg: 1,
            set: set.into(),
            dreg: None,
        });
        self.words.push(format!("{text} @{set}"));
        self
    }

    fn finish(self, chain: &str) -> Rule {
        Rule {
            chain: chain.into(),
            exprs: self.exprs,
            text: self.words.join(" "),
        }
    }

    /// Ends the rule with NAT to the address and port a map gives for the packet's fields
    /// (`dnat ip to <fields> map @<map>`; the map's data is an address . port).
    pub fn dnat_map(mut self, fields: &[Field], map: &str, chain: &str) -> Rule {
        let text = self.load_fields(fields);
        self.exprs.push(Expr::Lookup {
            sreg: 1,
            set: map.into(),
            dreg: Some(1),
        });
        let addr_words = Field::Addr(Dir::Destination).len(self.family) / 4;
        self.exprs.push(Expr::Dnat {
            family: self.family.addr_family_nfproto(),
            addr: 1,
            proto: concat_reg(addr_words),
        });
        self.words
            .push(format!("dnat {} to {text} map @{map}", self.family.name()));
        self.finish(chain)
    }

    pub fn verdict(mut self, verdict: Verdict, chain: &str) -> Rule {
        self.words.push(verdict.text());
        self.exprs.push(Expr::Verdict(verdict));
        self.finish(chain)
    }

    pub fn masquerade(mut self, chain: &str) -> Rule {
        self.exprs.push(Expr::Masq);
        self.words.push("masquerade".into());
        self.finish(chain)
    }
}
