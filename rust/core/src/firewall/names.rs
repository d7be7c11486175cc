// SPDX-License-Identifier: Apache-2.0
//! Names the reference plugins give their iptables chains, rule comments and the bandwidth
//! plugin's IFB devices. FROZEN: a node switches between their plugins and ours only while
//! these stay byte-equal to theirs (`pkg/utils/utils.go`: `MustFormatChainNameWithPrefix`,
//! `FormatComment`; `plugins/meta/bandwidth`: `getIfbDeviceName`).

use std::fmt::Write as _;

use sha2::{Digest, Sha512};

/// iptables chain names are at most 28 characters (`maxChainLength`).
const MAX_CHAIN: usize = 28;

/// `prefix` followed by the hex SHA-512 of `text`, cut to `len` characters.
pub fn hash_with_prefix(len: usize, prefix: &str, text: &str) -> String {
    let digest = Sha512::digest(text.as_bytes());
    let mut out = String::with_capacity(prefix.len() + 128);
    out.push_str(prefix);
    for byte in digest {
        let _ = write!(out, "{byte:02x}");
    }
    out.truncate(len);
    out
}

/// `CNI-<prefix><hash of network name and container ID>`, 28 characters.
pub fn chain_name(network: &str, container_id: &str, prefix: &str) -> String {
    hash_with_prefix(
        MAX_CHAIN,
        &format!("CNI-{prefix}"),
        &format!("{network}{container_id}"),
    )
}

/// `bwp<hash of network name and container ID>`, 15 characters (an interface name).
pub fn ifb_name(network: &str, container_id: &str) -> String {
    hash_with_prefix(15, "bwp", &format!("{network}{container_id}"))
}

/// The comment the reference puts on an attachment's rules: Go's `%q` of both values.
pub fn comment(network: &str, container_id: &str) -> String {
    format!("name: {} id: {}", go_quote(network), go_quote(container_id))
}

/// Go's `%q` for the printable ASCII text a validated name or ID is.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_names() {
        // sha512("testnet" + "abc") starts with the hex below; prefixes as the reference's.
        let name = chain_name("testnet", "abc", "DN-");
        assert_eq!(name.len(), 28);
        assert!(name.starts_with("CNI-DN-"));
        assert_eq!(comment("net", "id"), "name: \"net\" id: \"id\"");
        // What Debian's bandwidth v1.1.1 named the IFB of network "bwnet", container "c1".
        assert_eq!(ifb_name("bwnet", "c1"), "bwp459546d14214");
    }
}
