// SPDX-License-Identifier: Apache-2.0
//! iptables-restore text, planned against what `iptables-save -t <table>` printed.
//!
//! Rules are written in the form iptables-save prints them, so a rule we made (or the
//! reference made) can be found in the saved text and removed with `-D` followed by the
//! same words. A `:CHAIN` line in `iptables-restore --noflush` creates a chain or flushes
//! an existing one, so shared chains are declared only when they are missing.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One table as iptables-save printed it.
#[derive(Debug, Default, Clone)]
pub struct Saved {
    pub chains: BTreeSet<String>,
    /// Each rule as `(chain, the words after "-A <chain> ")`.
    pub rules: Vec<(String, String)>,
}

impl Saved {
    /// Reads the `*<table>` section of iptables-save output.
    pub fn parse(text: &str, table: &str) -> Saved {
        let mut saved = Saved::default();
        let mut inside = false;
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                inside = name.trim() == table;
            } else if !inside {
            } else if let Some(decl) = line.strip_prefix(':') {
                if let Some(name) = decl.split_whitespace().next() {
                    saved.chains.insert(name.to_owned());
                }
            } else if let Some(rule) = line.strip_prefix("-A ") {
                if let Some((chain, spec)) = rule.split_once(' ') {
                    saved.rules.push((chain.to_owned(), spec.to_owned()));
                }
            }
        }
        saved
    }

    pub fn has_chain(&self, chain: &str) -> bool {
        self.chains.contains(chain)
    }

    pub fn has_rule(&self, chain: &str, spec: &str) -> bool {
        self.rules.iter().any(|(c, s)| c == chain && s == spec)
    }

    /// The rules of `chain`, in order.
    pub fn rules_of<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.rules
            .iter()
            .filter(move |(c, _)| c == chain)
            .map(|(_, s)| s.as_str())
    }

    /// Rules anywhere that jump to `target`.
    pub fn jumps_to<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.rules
            .iter()
            .filter(move |(_, s)| {
                s.ends_with(&format!("-j {target}")) || s.contains(&format!("-j {target} "))
            })
            .map(|(c, s)| (c.as_str(), s.as_str()))
    }
}

/// An iptables-restore script for one table, applied with `--noflush`.
#[derive(Debug, Clone)]
pub struct Restore {
    table: String,
    declare: Vec<String>,
    lines: Vec<String>,
}

impl Restore {
    pub fn new(table: &str) -> Self {
        Restore {
            table: table.into(),
            declare: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Creates `chain`, or flushes it when it exists.
    pub fn declare(&mut self, chain: &str) {
        self.declare.push(chain.into());
    }

    /// Creates `chain` only when the saved table lacks it.
    pub fn ensure(&mut self, saved: &Saved, chain: &str) {
        if !saved.has_chain(chain) {
            self.declare(chain);
        }
    }

    pub fn append(&mut self, chain: &str, spec: &str) {
        self.lines.push(format!("-A {chain} {spec}"));
    }

    pub fn insert(&mut self, chain: &str, position: usize, spec: &str) {
        self.lines.push(format!("-I {chain} {position} {spec}"));
    }

    pub fn delete(&mut self, chain: &str, spec: &str) {
        self.lines.push(format!("-D {chain} {spec}"));
    }

    /// Removes every rule jumping to `chain`, then the chain, when it exists.
    pub fn remove_chain(&mut self, saved: &Saved, chain: &str) {
        for (from, spec) in saved.jumps_to(chain) {
            self.lines.push(format!("-D {from} {spec}"));
        }
        if saved.has_chain(chain) {
            self.lines.push(format!("-F {chain}"));
            self.lines.push(format!("-X {chain}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.declare.is_empty() && self.lines.is_empty()
    }

    pub fn text(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = format!("*{}\n", self.table);
        for chain in &self.declare {
            let _ = writeln!(out, ":{chain} - [0:0]");
        }
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// A value iptables-save prints in double quotes, with `"` and `\` escaped.
pub fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An address match as iptables-save prints it (`/32` or `/128` for one address).
pub fn cidr(addr: crate::net::Addr, prefix: u8) -> String {
    crate::net::cidr_network((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j X\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:CNI-DN-x - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-DN-x\n-A CNI-DN-x -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2:80\nCOMMIT\n";

    #[test]
    fn removes_a_chain_and_its_jumps() {
        let saved = Saved::parse(SAVED, "nat");
        assert!(saved.has_chain("CNI-DN-x"));
        assert!(!saved.has_chain("INPUT"));
        let mut r = Restore::new("nat");
        r.remove_chain(&saved, "CNI-DN-x");
        assert_eq!(
            r.text(),
            "*nat\n-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-DN-x\n-F CNI-DN-x\n-X CNI-DN-x\nCOMMIT\n"
        );
        let mut nothing = Restore::new("nat");
        nothing.remove_chain(&Saved::parse(SAVED, "filter"), "CNI-DN-x");
        assert_eq!(nothing.text(), "");
    }
}
