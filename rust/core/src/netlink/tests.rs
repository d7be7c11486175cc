// SPDX-License-Identifier: Apache-2.0
//! Message bytes against an independent encoder (pyroute2), without a kernel.

use netlink_packet_core::NetlinkSerializable;

use super::link::{messages as link_messages, LowerLink, StackedKind};
use super::rule::{messages as rule_messages, parse_rule, RuleSpec};

fn payload(message: &netlink_packet_route::RouteNetlinkMessage) -> String {
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    buf.iter().fold(String::new(), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

// Expected bytes come from pyroute2's encoder (an independent implementation).
#[test]
fn stacked_links_match_an_independent_encoder() {
    let lower = |kind, name, mode, vlan_id| LowerLink {
        kind: StackedKind::parse(kind, mode, vlan_id).unwrap(),
        name,
        master: 2,
        netns_fd: None,
        mtu: 0,
        mac: None,
        bc_queue_len: 0,
    };
    let ipvlan = link_messages::new_lower(&lower("ipvlan", "ipvl0", Some("l3"), 0));
    assert_eq!(
        payload(&ipvlan),
        "000000000000000000000000000000000a0003006970766c3000000008000500020000001c0012000b000100\
         6970766c616e00000c0002000600010001000000"
    );
    let vlan = link_messages::new_lower(&lower("vlan", "eth0.100", None, 100));
    assert_eq!(
        payload(&vlan),
        "000000000000000000000000000000000d000300657468302e3130300000000008000500020000001c0012000900\
         0100766c616e000000000c0002000600010064000000"
    );
    let macvlan = link_messages::new_lower(&lower("macvlan", "mv0", Some("bridge"), 0));
    assert_eq!(
        payload(&macvlan),
        "00000000000000000000000000000000080003006d76300008000500020000001c0012000c0001006d6163766c61\
         6e000c0002000800010004000000"
    );
    assert!(StackedKind::parse("ipvlan", Some("l9"), 0).is_err());
    assert!(StackedKind::parse("bond", None, 0).is_err());
}

#[test]
fn rule_tables_above_255_go_in_the_attribute_only() {
    let spec = RuleSpec {
        table: 1000,
        priority: Some(100),
        src: Some(("10.1.2.3".parse().unwrap(), 32)),
        ..RuleSpec::default()
    };
    let msg = rule_messages::new_rule(&spec);
    assert_eq!(msg.header.table, 252); // RT_TABLE_COMPAT
    assert_eq!(msg.header.src_len, 32);
    assert_eq!(parse_rule(&msg, false), spec);
}

#[test]
fn macvlan_broadcast_queue_length_is_an_info_data_attribute() {
    let link = LowerLink {
        kind: StackedKind::Macvlan(super::link::MacvlanMode::Bridge),
        name: "mv0",
        master: 2,
        netns_fd: None,
        mtu: 0,
        mac: None,
        bc_queue_len: 5000,
    };
    let hex = payload(&link_messages::new_lower(&link));
    // IFLA_MACVLAN_BC_QUEUE_LEN (7 in linux/if_link.h), u32 5000, after IFLA_MACVLAN_MODE
    // (1) bridge (4).
    assert!(hex.ends_with("08000100040000000800070088130000"), "{hex}");
}
