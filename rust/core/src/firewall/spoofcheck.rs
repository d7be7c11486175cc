// SPDX-License-Identifier: Apache-2.0
//! The bridge plugin's `macspoofchk`: drop frames from a container port whose source MAC is
//! not the container's.
//!
//! The layout is the reference plugin's (`pkg/link/spoofcheck.go`), so a node can switch
//! implementations without leaking rules: table `bridge nat`, base chain `PREROUTING`
//! (filter, prerouting, priority -300), a jump per port to `cni-br-iface-<id>`, which jumps
//! to `cni-br-iface-<id>-mac`: `ether saddr <mac> return`, then `drop`. Every rule carries
//! the comment `macspoofchk-<id>`, where `<id>` is `<containerID>-<ifname>`.

use std::fmt::Write as _;

const TABLE: &str = "bridge nat";

/// The id the reference derives from the attachment.
pub fn ref_id(container_id: &str, ifname: &str) -> String {
    format!("{container_id}-{ifname}")
}

/// Chain names are nft identifiers: unquoted, so only letters, digits, `_`, `.` and `-`.
fn chain_name(id: &str) -> Result<String, String> {
    let name = format!("cni-br-iface-{id}");
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Ok(name)
    } else {
        Err(format!("cannot name an nftables chain after {id:?}"))
    }
}

fn quote(text: &str) -> String {
    // Identifiers here are validated container IDs, interface names and MACs; quoting keeps
    // nft from reading anything in them as syntax.
    format!("\"{}\"", text.replace(['"', '\\', '\n'], ""))
}

/// One `nft -f` transaction that creates (idempotently) and fills the chains.
///
/// # Errors
/// When the attachment's id cannot be part of an nft chain name.
pub fn setup_script(host_iface: &str, mac: &str, id: &str) -> Result<String, String> {
    let iface_chain = chain_name(id)?;
    let mac_chain = format!("{iface_chain}-mac");
    let comment = quote(&format!("macspoofchk-{id}"));
    let mut out = String::new();
    let _ = writeln!(out, "add table {TABLE}");
    let _ = writeln!(
        out,
        "add chain {TABLE} PREROUTING {{ type filter hook prerouting priority -300; policy accept; }}"
    );
    let _ = writeln!(out, "add chain {TABLE} {iface_chain}");
    let _ = writeln!(out, "add chain {TABLE} {mac_chain}");
    let _ = writeln!(out, "flush chain {TABLE} {iface_chain}");
    let _ = writeln!(out, "flush chain {TABLE} {mac_chain}");
    let _ = writeln!(
        out,
        "add rule {TABLE} PREROUTING iifname {} jump {iface_chain} comment {comment}",
        quote(host_iface)
    );
    let _ = writeln!(
        out,
        "add rule {TABLE} {iface_chain} jump {mac_chain} comment {comment}"
    );
    let _ = writeln!(
        out,
        "add rule {TABLE} {mac_chain} ether saddr {} return comment {comment}",
        mac.to_ascii_lowercase()
    );
    let _ = writeln!(out, "add rule {TABLE} {mac_chain} drop comment {comment}");
    Ok(out)
}

/// One transaction that removes the port's jump (by rule handle) and both chains.
///
/// # Errors
/// As [`setup_script`].
pub fn teardown_script(
    id: &str,
    jump_handles: &[u64],
    chains_exist: bool,
) -> Result<String, String> {
    let iface_chain = chain_name(id)?;
    let mut out = String::new();
    for handle in jump_handles {
        let _ = writeln!(out, "delete rule {TABLE} PREROUTING handle {handle}");
    }
    if chains_exist {
        let _ = writeln!(out, "flush chain {TABLE} {iface_chain}");
        let _ = writeln!(out, "delete chain {TABLE} {iface_chain}");
        let _ = writeln!(out, "delete chain {TABLE} {iface_chain}-mac");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_matches_the_reference_layout() {
        let script = setup_script("veth1234", "0A:58:0A:01:00:05", &ref_id("ctr", "eth0")).unwrap();
        assert!(script.contains("add chain bridge nat PREROUTING { type filter hook prerouting priority -300; policy accept; }"));
        assert!(script.contains(
            "add rule bridge nat PREROUTING iifname \"veth1234\" jump cni-br-iface-ctr-eth0 comment \"macspoofchk-ctr-eth0\""
        ));
        assert!(script.contains(
            "add rule bridge nat cni-br-iface-ctr-eth0-mac ether saddr 0a:58:0a:01:00:05 return"
        ));
        assert!(script.ends_with(
            "add rule bridge nat cni-br-iface-ctr-eth0-mac drop comment \"macspoofchk-ctr-eth0\"\n"
        ));
        assert!(setup_script("v", "m", "ctr-eth\"0").is_err());
    }

    #[test]
    fn teardown_deletes_jumps_then_chains() {
        assert_eq!(
            teardown_script("c-eth0", &[7, 9], true).unwrap(),
            "delete rule bridge nat PREROUTING handle 7\ndelete rule bridge nat PREROUTING handle 9\n\
             flush chain bridge nat cni-br-iface-c-eth0\ndelete chain bridge nat cni-br-iface-c-eth0\n\
             delete chain bridge nat cni-br-iface-c-eth0-mac\n"
        );
        assert_eq!(teardown_script("x", &[], false).unwrap(), "");
    }
}
