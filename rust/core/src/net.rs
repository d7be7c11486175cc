// SPDX-License-Identifier: Apache-2.0
//! The one address, CIDR and MAC type of the core, with their parsers: the allocator, the
//! range checks and the netlink glue all read addresses here, by Go's rules (an
//! IPv4-mapped IPv6 address is IPv4; a CIDR may have host bits set).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// An address: its family and its value as an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub v6: bool,
    pub value: u128,
}

impl Addr {
    pub fn family(self) -> Family {
        if self.v6 {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// The IPv4 address an IPv4-mapped IPv6 address stands for (as Go treats it); others unchanged.
    #[must_use]
    pub fn unmapped(self) -> Addr {
        if self.v6 && self.value >> 32 == 0xffff {
            Addr {
                v6: false,
                value: self.value & 0xffff_ffff,
            }
        } else {
            self
        }
    }

    /// Parses an address; an IPv4-mapped IPv6 address counts as IPv4, as in Go.
    pub fn parse(text: &str) -> Option<Addr> {
        match text.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => Some(Addr {
                v6: false,
                value: u128::from(u32::from(v4)),
            }),
            IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
                Some(v4) => Addr {
                    v6: false,
                    value: u128::from(u32::from(v4)),
                },
                None => Addr {
                    v6: true,
                    value: u128::from(v6),
                },
            }),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            Ipv6Addr::from(self.value).fmt(f)
        } else {
            Ipv4Addr::from(u32::try_from(self.value).unwrap_or(u32::MAX)).fmt(f)
        }
    }
}

impl Addr {
    /// The standard library's form, for the netlink messages.
    pub fn ip(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.value))
        } else {
            IpAddr::V4(Ipv4Addr::from(
                u32::try_from(self.value).unwrap_or(u32::MAX),
            ))
        }
    }
}

/// Parses `address/prefix` into its family, the address as an integer and the prefix length.
pub fn parse_subnet(text: &str) -> Option<(Family, u128, u8)> {
    let (ip, prefix) = text.split_once('/')?;
    let addr = Addr::parse(ip)?;
    // A mapped address with a v6 prefix length would be ambiguous: take the literal family.
    let family = if ip.contains(':') {
        Family::V6
    } else {
        addr.family()
    };
    let value = if family == Family::V6 && !addr.v6 {
        u128::from(ip.parse::<Ipv6Addr>().ok()?)
    } else {
        addr.value
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > family.bits() {
        return None;
    }
    Some((family, value, prefix))
}

/// Parses `address/prefix` as Go's `net.ParseCIDR` does (host bits may be set): the
/// address and the prefix length.
pub fn parse_cidr(text: &str) -> Option<(Addr, u8)> {
    let (family, value, prefix) = parse_subnet(text)?;
    Some((
        Addr {
            v6: family == Family::V6,
            value,
        },
        prefix,
    ))
}

/// The network of `cidr` (host bits cleared), in CIDR form.
pub fn cidr_network(cidr: (Addr, u8)) -> String {
    let (addr, prefix) = cidr;
    let value = addr.value & !host_mask(addr.family(), prefix);
    format!("{}/{prefix}", Addr { value, ..addr })
}

/// Whether `addr` lies in the network `cidr` (an address with a prefix length).
pub fn cidr_contains(cidr: (Addr, u8), addr: Addr) -> bool {
    let (net, prefix) = cidr;
    let family = net.family();
    family == addr.family()
        && (net.value & !host_mask(family, prefix)) == (addr.value & !host_mask(family, prefix))
}

pub fn host_mask(family: Family, prefix: u8) -> u128 {
    let bits = u32::from(family.bits() - prefix);
    if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The netmask of a prefix length, as an address (`255.255.0.0` for /16).
pub fn netmask(family: Family, prefix: u8) -> Addr {
    let all = if family == Family::V6 {
        u128::MAX
    } else {
        u128::from(u32::MAX)
    };
    Addr {
        v6: family == Family::V6,
        value: all & !host_mask(family, prefix),
    }
}

pub fn format_addr(family: Family, value: u128) -> String {
    Addr {
        v6: family == Family::V6,
        value,
    }
    .to_string()
}

/// A MAC address: six octets, written `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses six hex pairs separated by colons (either case), nothing else.
    pub fn parse(text: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut out {
            let part = parts.next()?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *octet = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_hw(&self.0))
    }
}

/// Any link-layer address as the kernel reports it (six octets for Ethernet, none for lo).
pub fn format_hw(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::{cidr_contains, cidr_network, parse_cidr, Addr, Mac};

    #[test]
    fn macs_are_six_hex_pairs() {
        assert_eq!(
            Mac::parse("02:42:AC:11:00:02").unwrap().to_string(),
            "02:42:ac:11:00:02"
        );
        for bad in [
            "zz",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "02:42:ac:11:00:0g",
            "",
        ] {
            assert!(Mac::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn mapped_addresses_are_ipv4_as_in_go() {
        let mapped = Addr::parse("::ffff:10.1.2.3").unwrap();
        assert!(!mapped.v6);
        assert_eq!(mapped.ip().to_string(), "10.1.2.3");
        assert_eq!(
            parse_cidr("fd00::1/64").unwrap().0.ip().to_string(),
            "fd00::1"
        );
    }

    #[test]
    fn cidrs() {
        let (a, p) = parse_cidr("10.1.2.3/24").unwrap();
        assert_eq!((a.to_string(), p), ("10.1.2.3".into(), 24));
        assert!(cidr_contains((a, p), Addr::parse("10.1.2.200").unwrap()));
        assert!(!cidr_contains((a, p), Addr::parse("10.1.3.1").unwrap()));
        assert!(!cidr_contains((a, p), Addr::parse("::1").unwrap()));
        assert!(parse_cidr("10.1.2.3").is_none());
        assert_eq!(cidr_network((a, p)), "10.1.2.0/24");
        assert_eq!(
            cidr_network(parse_cidr("fd00::5:1/112").unwrap()),
            "fd00::5:0/112"
        );
        assert!(parse_cidr("fd00::5/0").is_some());
    }
}
