// SPDX-License-Identifier: Apache-2.0
//! portmap's `conditionsV4`/`conditionsV6` in nftables syntax: the matches we understand,
//! parsed into [`RuleBuilder`] calls (there is no `nft` process to hand text to).
//!
//! Understood: `ip saddr|daddr [!=] ADDRESS[/LEN]` (`ip6` likewise), and `iifname|oifname
//! [!=] NAME` (quoted or not). Several matches may follow each other in one condition.
//! Anything else is refused with what was not understood.

use super::rule::{Dir, Family, RuleBuilder};
use crate::net::parse_cidr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    Addr {
        dir: Dir,
        addr: crate::net::Addr,
        prefix: u8,
        negate: bool,
    },
    Ifname {
        dir: Dir,
        name: String,
        negate: bool,
    },
}

/// Parsed conditions, ready to be added to rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions(Vec<Cond>);

fn ifname_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'*'))
}

impl Conditions {
    /// Parses `conditions` for a table of `family`.
    ///
    /// # Errors
    /// A message naming the part that is not understood.
    pub fn parse(family: Family, conditions: &[String]) -> Result<Conditions, String> {
        let mut out = Vec::new();
        for condition in conditions {
            let words: Vec<&str> = condition.split_whitespace().collect();
            let mut i = 0;
            while i < words.len() {
                let negate = words.get(i + 2) == Some(&"!=");
                let value = words.get(i + if negate { 3 } else { 2 }).copied();
                let next = i + if negate { 4 } else { 3 };
                let bad = || {
                    format!(
                        "condition {condition:?}: {:?} is not understood",
                        words[i..].join(" ")
                    )
                };
                match (words[i], words.get(i + 1).copied(), value) {
                    (proto @ ("ip" | "ip6"), Some(field @ ("saddr" | "daddr")), Some(text)) => {
                        if (proto == "ip6") != (family == Family::Ip6) {
                            return Err(format!(
                                "condition {condition:?}: {proto} matches in a table of {}",
                                family.name()
                            ));
                        }
                        let with_len = if text.contains('/') {
                            text.to_owned()
                        } else {
                            format!("{text}/{}", if family == Family::Ip6 { 128 } else { 32 })
                        };
                        let (addr, prefix) = parse_cidr(&with_len).ok_or_else(bad)?;
                        let addr = addr.unmapped();
                        if (addr.family() == crate::net::Family::V6) != (family == Family::Ip6) {
                            return Err(bad());
                        }
                        let dir = if field == "saddr" {
                            Dir::Source
                        } else {
                            Dir::Destination
                        };
                        out.push(Cond::Addr {
                            dir,
                            addr,
                            prefix,
                            negate,
                        });
                    }
                    (field @ ("iifname" | "oifname"), Some(first), _) => {
                        let negate = first == "!=";
                        let text = if negate {
                            words.get(i + 2).copied()
                        } else {
                            Some(first)
                        };
                        let name = text
                            .map(|t| t.trim_matches('"'))
                            .filter(|n| ifname_ok(n))
                            .ok_or_else(bad)?;
                        let dir = if field == "iifname" {
                            Dir::Source
                        } else {
                            Dir::Destination
                        };
                        out.push(Cond::Ifname {
                            dir,
                            name: name.to_owned(),
                            negate,
                        });
                        i += if negate { 3 } else { 2 };
                        continue;
                    }
                    _ => return Err(bad()),
                }
                i = next;
            }
        }
        Ok(Conditions(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rule with these matches added.
    #[must_use]
    pub fn apply(&self, mut rb: RuleBuilder) -> RuleBuilder {
        for cond in &self.0 {
            rb = match cond {
                Cond::Addr {
                    dir,
                    addr,
                    prefix,
                    negate,
                } => rb.addr(*dir, *addr, *prefix, *negate),
                Cond::Ifname { dir, name, negate } => rb.ifname(*dir, name, *negate),
            };
        }
        rb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn understood_and_refused() {
        let ok = |text: &str| Conditions::parse(Family::Ip, &[text.to_owned()]);
        assert_eq!(
            ok("ip saddr 10.0.0.0/8 iifname != \"eth1\"")
                .unwrap()
                .0
                .len(),
            2
        );
        assert_eq!(ok("ip daddr != 192.0.2.1").unwrap().0.len(), 1);
        assert!(ok("ip6 saddr ::1").is_err());
        assert!(ok("tcp dport 80").unwrap_err().contains("tcp dport 80"));
        assert!(ok("ip saddr").is_err());
        assert!(ok("iifname bad;name").is_err());
        assert!(Conditions::parse(Family::Ip6, &["ip6 saddr fd00::/8".into()]).is_ok());
    }
}
