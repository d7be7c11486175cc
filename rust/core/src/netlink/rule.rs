// SPDX-License-Identifier: Apache-2.0
//! Policy-routing rules (`ip rule`): adding, deleting and listing them (tables above 255
//! in the attribute only).
//!
//! Message building ([`messages`]) is separate from I/O, so the bytes can be tested
//! without a kernel.

use std::net::IpAddr;

use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::socket::Result;

use super::handle::{family, Handle};

/// A policy-routing rule (`ip rule`): packets that match every given selector look up
/// `table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub v6: bool,
    pub priority: Option<u32>,
    pub table: u32,
    pub src: Option<(IpAddr, u8)>,
    pub dst: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

fn rule_name(spec: &RuleSpec) -> String {
    let from = spec
        .src
        .map(|(ip, prefix)| format!("from {ip}/{prefix} "))
        .unwrap_or_default();
    let to = spec
        .dst
        .map(|(ip, prefix)| format!("to {ip}/{prefix} "))
        .unwrap_or_default();
    format!("{from}{to}table {}", spec.table)
}

pub(super) fn parse_rule(rule: &RuleMessage, v6: bool) -> RuleSpec {
    let mut spec = RuleSpec {
        v6,
        table: u32::from(rule.header.table),
        ..RuleSpec::default()
    };
    for attr in &rule.attributes {
        match attr {
            RuleAttribute::Table(t) => spec.table = *t,
            RuleAttribute::Priority(p) => spec.priority = Some(*p),
            RuleAttribute::Source(ip) => spec.src = Some((*ip, rule.header.src_len)),
            RuleAttribute::Destination(ip) => spec.dst = Some((*ip, rule.header.dst_len)),
            RuleAttribute::Iifname(name) => spec.iif = Some(name.clone()),
            RuleAttribute::Oifname(name) => spec.oif = Some(name.clone()),
            _ => {}
        }
    }
    spec
}

/// Pure message builders (no I/O).
pub mod messages {
    use super::{family, RouteNetlinkMessage, RuleAction, RuleAttribute, RuleMessage, RuleSpec};

    /// A rule as RTM_NEWRULE (the caller picks NEWRULE or DELRULE by its flags' use).
    pub fn new_rule(spec: &RuleSpec) -> RuleMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family(spec.v6);
        msg.header.action = RuleAction::ToTable;
        // Tables above 255 only fit the attribute; the header then says RT_TABLE_COMPAT.
        msg.header.table = u8::try_from(spec.table).unwrap_or(252);
        msg.attributes.push(RuleAttribute::Table(spec.table));
        if let Some(priority) = spec.priority {
            msg.attributes.push(RuleAttribute::Priority(priority));
        }
        if let Some((ip, prefix)) = spec.src {
            msg.header.src_len = prefix;
            msg.attributes.push(RuleAttribute::Source(ip));
        }
        if let Some((ip, prefix)) = spec.dst {
            msg.header.dst_len = prefix;
            msg.attributes.push(RuleAttribute::Destination(ip));
        }
        if let Some(iif) = &spec.iif {
            msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
        }
        if let Some(oif) = &spec.oif {
            msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
        }
        msg
    }

    pub fn dump_rules(v6: bool) -> RouteNetlinkMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family(v6);
        RouteNetlinkMessage::GetRule(msg)
    }
}

impl Handle {
    /// # Errors
    /// [`NetlinkError`] (EEXIST when the same rule exists).
    pub fn add_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        self.create(
            RouteNetlinkMessage::NewRule(messages::new_rule(spec)),
            &format!("add rule {}", rule_name(spec)),
        )
    }

    /// # Errors
    /// [`NetlinkError`] (ENOENT when no rule matches).
    pub fn del_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        self.socket.request(
            RouteNetlinkMessage::DelRule(messages::new_rule(spec)),
            0,
            &format!("delete rule {}", rule_name(spec)),
        )
    }

    /// Every rule of a family.
    ///
    /// # Errors
    /// [`NetlinkError`].
    pub fn rules(&mut self, v6: bool) -> Result<Vec<RuleSpec>> {
        let answer = self.socket.dump(&messages::dump_rules(v6), "list rules")?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(rule) => Some(parse_rule(&rule, v6)),
                _ => None,
            })
            .collect())
    }
}
