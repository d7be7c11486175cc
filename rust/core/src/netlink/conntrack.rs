// SPDX-License-Identifier: Apache-2.0
//! Conntrack over ctnetlink: removing the entries of UDP connections to given ports, which
//! would otherwise keep carrying a port's datagrams to where they went before a new
//! mapping (the reference's `DeleteConntrackEntriesForDstPort`).

use crate::firewall::nft::socket::find;
use crate::firewall::nft::wire::Writer;
use crate::firewall::nft::NftSocket;
use crate::netlink::NetlinkError;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
// enum ctattr_type, ctattr_tuple, ctattr_l4proto (linux/netfilter/nfnetlink_conntrack.h)
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
const IPPROTO_UDP: u8 = 17;

/// Deletes the UDP conntrack entries, of both families, whose original destination port is
/// one of `ports`. Returns how many were deleted.
///
/// # Errors
/// When the table cannot be read or an entry cannot be deleted (other than being gone).
pub fn delete_udp_to_ports(sock: &mut NftSocket, ports: &[u16]) -> Result<usize, NetlinkError> {
    let mut deleted = 0;
    for family in [libc::AF_INET, libc::AF_INET6] {
        let family = u8::try_from(family).unwrap_or(2);
        let kind = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
        let entries = sock.dump(kind, family, "read the conntrack table")?;
        let tuples: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|body| matching_tuple(body.get(4..)?, ports))
            .collect();
        for tuple in tuples {
            let kind = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
            match sock.request(
                kind,
                family,
                "delete a conntrack entry",
                |w: &mut Writer| {
                    w.nest(CTA_TUPLE_ORIG, |w| w.buf.extend_from_slice(&tuple));
                },
            ) {
                Ok(()) => deleted += 1,
                Err(e) if e.errno == libc::ENOENT => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// The original tuple's attributes, when the entry is UDP to one of `ports`.
fn matching_tuple(attrs: &[u8], ports: &[u16]) -> Option<Vec<u8>> {
    let tuple = find(attrs, CTA_TUPLE_ORIG)?;
    let proto = find(tuple, CTA_TUPLE_PROTO)?;
    let num = *find(proto, CTA_PROTO_NUM)?.first()?;
    let port = u16::from_be_bytes(find(proto, CTA_PROTO_DST_PORT)?.try_into().ok()?);
    (num == IPPROTO_UDP && ports.contains(&port)).then(|| tuple.to_vec())
}
