// SPDX-License-Identifier: Apache-2.0
//! Sysctls under `/proc/sys/net/`, read and written in a namespace of our choice.

use std::io;

use super::ns::in_netns;

/// Writes a sysctl under `/proc/sys/net/` in the namespace at `netns` (or ours).
///
/// `key` uses dots or slashes (`net.ipv4.ip_forward`, `net/ipv4/conf/eth0.5/accept_ra`;
/// use slashes when a part holds a dot); anything that would leave `/proc/sys/net/` is refused.
///
/// # Errors
/// `InvalidInput` for a key outside `/proc/sys/net/`, or the write's error.
pub fn write_sysctl(netns: Option<&str>, key: &str, value: &str) -> io::Result<()> {
    let path = sysctl_path(key)?;
    let value = value.to_owned();
    in_netns(netns, move || std::fs::write(&path, value.as_bytes()))
}

fn sysctl_path(key: &str) -> io::Result<String> {
    // Dotted keys are sysctl(8) style; a key with slashes is a path and keeps its dots.
    let rel = if key.contains('/') {
        key.trim_start_matches('/').to_owned()
    } else {
        key.replace('.', "/")
    };
    let rel = rel.strip_prefix("proc/sys/").unwrap_or(&rel);
    let Some(rel) = rel.strip_prefix("net/") else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sysctl {key:?} is not under /proc/sys/net/"),
        ));
    };
    let bad = rel.is_empty()
        || rel
            .split('/')
            .any(|part| part.is_empty() || part == ".." || part.contains('\0'));
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sysctl {key:?} is not under /proc/sys/net/"),
        ));
    }
    Ok(format!("/proc/sys/net/{rel}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths_stay_under_proc_sys_net() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("/proc/sys/net/ipv6/conf/eth0/accept_ra").unwrap(),
            "/proc/sys/net/ipv6/conf/eth0/accept_ra"
        );
        for bad in [
            "",
            "net",
            "kernel.core_pattern",
            "ipv4/ip_forward",
            "net/../kernel/core_pattern",
            "net/a//b",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad}");
        }
    }
}
