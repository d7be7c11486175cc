// SPDX-License-Identifier: Apache-2.0
//! Sysctls under `/proc/sys/net/`, read and written in a namespace of our choice.

use std::io;

use super::ns::in_netns;

/// A sysctl that could not be read or written: which one (None when the namespace could
/// not be entered) and the kernel's error, errno kept.
#[derive(Debug)]
pub struct SysctlError {
    pub path: Option<String>,
    pub error: io::Error,
}

impl std::fmt::Display for SysctlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{path}: {}", self.error),
            None => self.error.fmt(f),
        }
    }
}

impl SysctlError {
    fn at(path: &str) -> impl FnOnce(io::Error) -> Self + '_ {
        move |error| SysctlError {
            path: Some(path.to_owned()),
            error,
        }
    }
}

fn resolve_all<'a>(keys: impl Iterator<Item = &'a str>) -> Result<Vec<String>, SysctlError> {
    keys.map(|key| sysctl_path(key).map_err(|error| SysctlError { path: None, error }))
        .collect()
}

fn in_netns_sysctl<T>(
    netns: Option<&str>,
    work: impl FnOnce() -> Result<T, SysctlError>,
) -> Result<T, SysctlError> {
    in_netns(netns, move || Ok(work())).map_err(|error| SysctlError { path: None, error })?
}

/// Reads sysctls under `/proc/sys/net/` in the namespace at `netns` (or ours), one entry
/// per key, without the trailing newline the kernel adds; all in one namespace entry.
///
/// # Errors
/// `InvalidInput` for a key outside `/proc/sys/net/`, else the first failing read's error.
pub fn read_sysctls(netns: Option<&str>, keys: &[String]) -> Result<Vec<String>, SysctlError> {
    let paths = resolve_all(keys.iter().map(String::as_str))?;
    in_netns_sysctl(netns, move || {
        paths.iter().map(|path| read_one(path)).collect()
    })
}

/// Writes sysctls under `/proc/sys/net/` in the namespace at `netns` (or ours), in order,
/// all or nothing: when one write fails, those already made get their earlier values back.
///
/// # Errors
/// `InvalidInput` for a key outside `/proc/sys/net/` (nothing is written then), else the
/// failing write's error.
pub fn write_sysctls(netns: Option<&str>, entries: &[(String, String)]) -> Result<(), SysctlError> {
    let paths = resolve_all(entries.iter().map(|(key, _)| key.as_str()))?;
    let planned: Vec<(String, String)> = paths
        .into_iter()
        .zip(entries.iter().map(|(_, value)| value.clone()))
        .collect();
    in_netns_sysctl(netns, move || {
        // A write-only sysctl has no earlier value to give back; it is written all the same.
        let mut done: Vec<(&str, Option<String>)> = Vec::with_capacity(planned.len());
        for (path, value) in &planned {
            let before = read_one(path).ok();
            if let Err(error) = std::fs::write(path, value.as_bytes()) {
                for (path, before) in done.iter().rev() {
                    if let Some(before) = before {
                        // Best effort: the failure being reported is the one that matters.
                        let _ = std::fs::write(path, before.as_bytes());
                    }
                }
                return Err(SysctlError::at(path)(error));
            }
            done.push((path, before));
        }
        Ok(())
    })
}

fn read_one(path: &str) -> Result<String, SysctlError> {
    let mut text = std::fs::read_to_string(path).map_err(SysctlError::at(path))?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// Where sysctl `key` lives: dotted keys are sysctl(8) style, a key with slashes is a path
/// and keeps its dots (an interface name such as `eth0.100`).
///
/// # Errors
/// `InvalidInput` for anything that would leave `/proc/sys/net/`.
pub fn sysctl_path(key: &str) -> io::Result<String> {
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
