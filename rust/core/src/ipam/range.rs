// SPDX-License-Identifier: Apache-2.0
//! Address ranges with host-local's semantics, and allocation over range sets.
//!
//! A range is a subnet with an optional `rangeStart`, `rangeEnd` and `gateway`. The start
//! defaults to the address after the network address, the end to the last address (for
//! IPv4 the one before broadcast), so network and broadcast are never handed out; the
//! gateway is skipped. A range set is one or more ranges of one family from which an
//! attachment gets one address; allocation is round-robin after the last reserved address,
//! in host-local's order.

use std::fmt;

use super::pool::Pool;
use crate::net::{format_addr, host_mask, parse_subnet};
use crate::net::{Addr, Family};

/// Why a range, a range set or a requested address is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// A value that is not an address or subnet: (field, value).
    Invalid(String, String),
    /// The subnet has bits set beyond its prefix.
    HostBits(String),
    /// A /31, /32, /127 or /128 has no address to give out.
    TooSmall(String),
    /// An address of the other family: (what, address, subnet).
    WrongFamily(String, String, String),
    /// An address outside the subnet or the range: (what, address, range).
    OutOfRange(String, String, String),
    /// `rangeStart` after `rangeEnd`.
    StartAfterEnd(String, String),
    /// A range set without ranges.
    Empty,
    /// A range set mixing IPv4 and IPv6.
    MixedFamilies,
    /// Two ranges share addresses: (description).
    Overlap(String),
    /// A requested address is the gateway.
    IsGateway(String),
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(field, value) => write!(f, "invalid {field} {value:?}"),
            Self::HostBits(s) => write!(f, "subnet {s} has host bits set"),
            Self::TooSmall(s) => write!(f, "network {s} too small to allocate from"),
            Self::WrongFamily(what, ip, s) => {
                write!(f, "{what} {ip} is not the same protocol as subnet {s}")
            }
            Self::OutOfRange(what, ip, r) => write!(f, "{what} {ip} is not in range {r}"),
            Self::StartAfterEnd(a, b) => write!(f, "rangeStart {a} is after rangeEnd {b}"),
            Self::Empty => f.write_str("no IP ranges specified"),
            Self::MixedFamilies => f.write_str("mixed address families in one range set"),
            Self::Overlap(d) => write!(f, "{d}"),
            Self::IsGateway(ip) => write!(f, "requested IP {ip} is the subnet's gateway"),
        }
    }
}

impl std::error::Error for RangeError {}

/// One range: `start..=end` of a subnet, with an optional gateway to skip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub family: Family,
    pub network: u128,
    pub prefix: u8,
    pub start: u128,
    pub end: u128,
    pub gateway: Option<u128>,
}

impl Range {
    /// Builds a range from host-local's keys. With `default_gateway`, a missing gateway
    /// is the first address of the subnet, as host-local does.
    ///
    /// # Errors
    /// [`RangeError`] naming the field and value at fault.
    pub fn new(
        subnet: &str,
        range_start: Option<&str>,
        range_end: Option<&str>,
        gateway: Option<&str>,
        default_gateway: bool,
    ) -> Result<Range, RangeError> {
        let (family, value, prefix) = parse_subnet(subnet)
            .ok_or_else(|| RangeError::Invalid("subnet".into(), subnet.into()))?;
        if value & host_mask(family, prefix) != 0 {
            return Err(RangeError::HostBits(subnet.into()));
        }
        if prefix + 2 > family.bits() {
            return Err(RangeError::TooSmall(subnet.into()));
        }
        let last = value | host_mask(family, prefix);
        let mut range = Range {
            family,
            network: value,
            prefix,
            start: value + 1,
            end: if family == Family::V4 { last - 1 } else { last },
            gateway: None,
        };
        let subnet_text = range.subnet();
        let inside = |field: &str, text: &str| -> Result<u128, RangeError> {
            let addr =
                Addr::parse(text).ok_or_else(|| RangeError::Invalid(field.into(), text.into()))?;
            if addr.family() != family {
                return Err(RangeError::WrongFamily(
                    field.into(),
                    text.into(),
                    subnet_text.clone(),
                ));
            }
            if addr.value < value || addr.value > last {
                return Err(RangeError::OutOfRange(
                    field.into(),
                    text.into(),
                    subnet_text.clone(),
                ));
            }
            Ok(addr.value)
        };
        if let Some(text) = range_start {
            range.start = inside("rangeStart", text)?;
        }
        if let Some(text) = range_end {
            range.end = inside("rangeEnd", text)?;
        }
        if range.start > range.end {
            return Err(RangeError::StartAfterEnd(
                format_addr(family, range.start),
                format_addr(family, range.end),
            ));
        }
        range.gateway = match gateway {
            Some(text) => Some(inside("gateway", text)?),
            None if default_gateway => Some(value + 1),
            None => None,
        };
        Ok(range)
    }

    /// The subnet in CIDR form.
    pub fn subnet(&self) -> String {
        format!("{}/{}", format_addr(self.family, self.network), self.prefix)
    }

    pub fn contains(&self, addr: Addr) -> bool {
        addr.family() == self.family && addr.value >= self.start && addr.value <= self.end
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.family == other.family && self.start <= other.end && other.start <= self.end
    }

    /// How many addresses this range can hand out (its size less the gateway).
    pub fn capacity(&self) -> u128 {
        let size = self.end - self.start + 1;
        match self.gateway {
            Some(gw) if gw >= self.start && gw <= self.end => size - 1,
            _ => size,
        }
    }

    pub fn addr(&self, value: u128) -> Addr {
        Addr {
            v6: self.family == Family::V6,
            value,
        }
    }

    /// `start-end` for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}-{}",
            format_addr(self.family, self.start),
            format_addr(self.family, self.end)
        )
    }
}

/// Ranges of one family that together give an attachment one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet {
    pub ranges: Vec<Range>,
}

impl RangeSet {
    /// A set of ranges: at least one, one family, no overlaps.
    ///
    /// # Errors
    /// [`RangeError::Empty`], [`RangeError::MixedFamilies`] or [`RangeError::Overlap`].
    pub fn new(ranges: Vec<Range>) -> Result<RangeSet, RangeError> {
        let first = ranges.first().ok_or(RangeError::Empty)?;
        if ranges.iter().any(|r| r.family != first.family) {
            return Err(RangeError::MixedFamilies);
        }
        let set = RangeSet { ranges };
        if let Some((i, j)) = set.overlap_with(&set) {
            return Err(RangeError::Overlap(format!(
                "range {i} overlaps with range {j}"
            )));
        }
        Ok(set)
    }

    pub fn family(&self) -> Family {
        self.ranges[0].family
    }

    /// The first pair of overlapping ranges between `self` and `other` (a range is not
    /// compared with itself when both are the same set).
    pub fn overlap_with(&self, other: &RangeSet) -> Option<(usize, usize)> {
        let same = std::ptr::eq(self, other);
        for (i, a) in self.ranges.iter().enumerate() {
            for (j, b) in other.ranges.iter().enumerate() {
                if (!same || i < j) && a.overlaps(b) {
                    return Some((i, j));
                }
            }
        }
        None
    }

    /// Index of the range holding `addr`.
    pub fn range_for(&self, addr: Addr) -> Option<usize> {
        self.ranges.iter().position(|r| r.contains(addr))
    }

    /// Checks that `addr` may be requested: in a range and not the gateway.
    ///
    /// # Errors
    /// [`RangeError`] saying why not.
    pub fn check_request(&self, addr: Addr) -> Result<usize, RangeError> {
        let Some(i) = self.range_for(addr) else {
            let first = &self.ranges[0];
            if addr.family() != first.family {
                return Err(RangeError::WrongFamily(
                    "requested IP".into(),
                    addr.to_string(),
                    first.subnet(),
                ));
            }
            return Err(RangeError::OutOfRange(
                "requested IP".into(),
                addr.to_string(),
                self.to_string(),
            ));
        };
        if self.ranges[i].gateway == Some(addr.value) {
            return Err(RangeError::IsGateway(addr.to_string()));
        }
        Ok(i)
    }

    /// The next free address after `last`, round-robin across the set's ranges, skipping
    /// gateways; host-local's iteration order. None when the set is exhausted.
    pub fn next_free(&self, pool: &Pool, last: Option<Addr>) -> Option<(usize, Addr)> {
        let n = self.ranges.len();
        let (first, begin) = match last.and_then(|a| self.range_for(a).map(|i| (i, a.value))) {
            Some((i, value)) => (i, value.checked_add(1)),
            None => (0, Some(self.ranges[0].start)),
        };
        for k in 0..=n {
            let i = (first + k) % n;
            let r = &self.ranges[i];
            let (lo, hi) = match k {
                0 => match begin {
                    Some(b) => (b, r.end),
                    None => continue,
                },
                // The part of the first range before where we began, visited last.
                _ if k == n => match begin {
                    Some(b) if b > r.start => (r.start, b - 1),
                    None => (r.start, r.end),
                    _ => continue,
                },
                _ => (r.start, r.end),
            };
            if let Some(value) = Self::free_in(pool, r, lo, hi) {
                return Some((i, r.addr(value)));
            }
        }
        None
    }

    fn free_in(pool: &Pool, r: &Range, lo: u128, hi: u128) -> Option<u128> {
        let bitmap = pool.bitmap(r.family);
        let mut at = lo;
        while at <= hi {
            let value = bitmap.next_clear(at, hi)?;
            if r.gateway != Some(value) {
                return Some(value);
            }
            at = value.checked_add(1)?;
        }
        None
    }

    /// Addresses the set could still hand out, given `pool`.
    pub fn free(&self, pool: &Pool) -> u128 {
        self.ranges
            .iter()
            .map(|r| {
                let bitmap = pool.bitmap(r.family);
                let mut used = bitmap.count_in(r.start, r.end);
                if let Some(gw) = r.gateway {
                    if gw >= r.start && gw <= r.end && bitmap.contains(gw) {
                        used -= 1;
                    }
                }
                r.capacity() - used
            })
            .sum()
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.ranges.iter().map(Range::describe).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Spec<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

    fn set(ranges: &[Spec<'_>]) -> RangeSet {
        RangeSet::new(
            ranges
                .iter()
                .map(|(s, a, b, g)| Range::new(s, *a, *b, *g, true).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn addr(s: &str) -> Addr {
        Addr::parse(s).unwrap()
    }

    #[test]
    fn defaults_exclude_network_broadcast_and_gateway() {
        let r = Range::new("10.0.0.0/29", None, None, None, true).unwrap();
        assert_eq!(
            (r.start, r.end, r.gateway),
            (0x0a00_0001, 0x0a00_0006, Some(0x0a00_0001))
        );
        assert_eq!(r.capacity(), 5);
        let v6 = Range::new("fd00::/120", None, None, None, true).unwrap();
        assert_eq!(v6.end & 0xff, 0xff, "IPv6 has no broadcast");
    }

    #[test]
    fn refuses_bad_ranges() {
        let e = |s, a, b, g| Range::new(s, a, b, g, true).unwrap_err();
        assert_eq!(
            e("10.0.0.1/24", None, None, None),
            RangeError::HostBits("10.0.0.1/24".into())
        );
        assert!(matches!(
            e("10.0.0.0/31", None, None, None),
            RangeError::TooSmall(_)
        ));
        assert!(matches!(
            e("fd00::/127", None, None, None),
            RangeError::TooSmall(_)
        ));
        assert!(matches!(
            e("10.0.0.0/33", None, None, None),
            RangeError::Invalid(..)
        ));
        assert!(matches!(
            e("nope", None, None, None),
            RangeError::Invalid(..)
        ));
        assert!(matches!(
            e("10.0.0.0/24", Some("10.0.1.1"), None, None),
            RangeError::OutOfRange(..)
        ));
        assert!(matches!(
            e("10.0.0.0/24", Some("fd00::1"), None, None),
            RangeError::WrongFamily(..)
        ));
        assert!(matches!(
            e("10.0.0.0/24", Some("10.0.0.9"), Some("10.0.0.8"), None),
            RangeError::StartAfterEnd(..)
        ));
        assert!(matches!(
            e("10.0.0.0/24", None, None, Some("10.0.1.1")),
            RangeError::OutOfRange(..)
        ));
        let a = Range::new("10.0.0.0/24", None, None, None, true).unwrap();
        let b = Range::new("10.0.0.128/25", None, None, None, true).unwrap();
        let c = Range::new("fd00::/64", None, None, None, true).unwrap();
        assert!(matches!(
            RangeSet::new(vec![a.clone(), b]),
            Err(RangeError::Overlap(_))
        ));
        assert_eq!(RangeSet::new(vec![a, c]), Err(RangeError::MixedFamilies));
        assert_eq!(RangeSet::new(vec![]), Err(RangeError::Empty));
    }

    #[test]
    fn round_robin_in_host_local_order() {
        let s = set(&[("10.0.0.0/29", None, None, None)]);
        let mut pool = Pool::default();
        let mut last = None;
        let mut got = vec![];
        for _ in 0..5 {
            let (_, a) = s.next_free(&pool, last).unwrap();
            pool.insert(a);
            last = Some(a);
            got.push(a.to_string());
        }
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        assert_eq!(s.next_free(&pool, last), None);
        pool.remove(addr("10.0.0.3"));
        pool.remove(addr("10.0.0.6"));
        // After .6 (the end) the search wraps to the start: .3 comes before .6.
        assert_eq!(s.next_free(&pool, last).unwrap().1, addr("10.0.0.3"));
        // After .4 it goes on to .6 first, then wraps.
        assert_eq!(
            s.next_free(&pool, Some(addr("10.0.0.4"))).unwrap().1,
            addr("10.0.0.6")
        );
        assert_eq!(s.free(&pool), 2);
    }

    #[test]
    fn spans_ranges_of_a_set() {
        let s = set(&[
            ("10.0.0.0/30", None, None, None),
            ("10.0.1.0/24", Some("10.0.1.10"), Some("10.0.1.11"), None),
        ]);
        let mut pool = Pool::default();
        let mut last = None;
        let mut got = vec![];
        while let Some((i, a)) = s.next_free(&pool, last) {
            pool.insert(a);
            last = Some(a);
            got.push((i, a.to_string()));
        }
        assert_eq!(
            got,
            [
                (0, "10.0.0.2".into()),
                (1, "10.0.1.10".into()),
                (1, "10.0.1.11".into())
            ]
        );
    }

    #[test]
    fn last_outside_the_set_starts_over() {
        let s = set(&[("10.0.0.0/24", None, None, None)]);
        let pool = Pool::default();
        assert_eq!(
            s.next_free(&pool, Some(addr("192.168.0.1"))).unwrap().1,
            addr("10.0.0.2")
        );
    }

    #[test]
    fn requests() {
        let s = set(&[("10.0.0.0/24", Some("10.0.0.10"), Some("10.0.0.20"), None)]);
        assert_eq!(s.check_request(addr("10.0.0.10")), Ok(0));
        assert!(matches!(
            s.check_request(addr("10.0.0.9")),
            Err(RangeError::OutOfRange(..))
        ));
        assert!(matches!(
            s.check_request(addr("fd00::1")),
            Err(RangeError::WrongFamily(..))
        ));
        let g = set(&[("10.0.0.0/24", None, None, None)]);
        assert!(matches!(
            g.check_request(addr("10.0.0.1")),
            Err(RangeError::IsGateway(_))
        ));
        assert!(matches!(
            g.check_request(addr("10.0.0.0")),
            Err(RangeError::OutOfRange(..))
        ));
        assert!(matches!(
            g.check_request(addr("10.0.0.255")),
            Err(RangeError::OutOfRange(..))
        ));
    }

    #[test]
    fn huge_ranges_are_ordinary() {
        let s = set(&[("fd00::/64", None, None, None)]);
        let mut pool = Pool::default();
        let (_, a) = s.next_free(&pool, None).unwrap();
        pool.insert(a);
        assert_eq!(a.to_string(), "fd00::2");
        assert_eq!(s.free(&pool), (1u128 << 64) - 3);
        let big = set(&[("10.0.0.0/8", None, None, None)]);
        assert_eq!(big.free(&Pool::default()), (1 << 24) - 3);
    }
}
