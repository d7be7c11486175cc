// SPDX-License-Identifier: Apache-2.0
//! Doing something inside another network namespace without moving the caller.
//!
//! `setns` changes the namespace of one OS thread. We never call it on the caller's thread
//! (a Python thread must not end up in a container's namespace): the work runs on a
//! short-lived thread that enters the namespace, does it and exits. A netlink socket or a
//! `/proc/sys/net` file opened there stays bound to that namespace after the thread is gone.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Runs `work` on a new thread inside the network namespace at `path` (a bind mount such
/// as `/var/run/netns/x`, or `/proc/<pid>/ns/net`); with `None`, in the caller's namespace.
///
/// # Errors
/// The error of opening or entering the namespace, or of `work`.
pub fn in_netns<T, F>(path: Option<&str>, work: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let Some(path) = path else {
        return work();
    };
    let file = File::open(path)?;
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a valid namespace fd; CLONE_NEWNET makes the
        // kernel refuse a file that is not a network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        work()
    })
    .join()
    .map_err(|_| io::Error::other("namespace worker thread panicked"))?
}

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

/// Reads a sysctl under `/proc/sys/net/` in the namespace at `netns` (or ours).
///
/// # Errors
/// As [`write_sysctl`].
pub fn read_sysctl(netns: Option<&str>, key: &str) -> io::Result<String> {
    let path = sysctl_path(key)?;
    in_netns(netns, move || {
        std::fs::read_to_string(&path).map(|s| s.trim().to_owned())
    })
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

/// Options of a persistent tap device.
#[derive(Debug, Clone, Default)]
pub struct TapOptions {
    pub multi_queue: bool,
    pub owner: Option<u32>,
    pub group: Option<u32>,
}

const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;

/// Creates a persistent tap device `name` in the namespace at `netns` (or ours).
///
/// tun/tap devices cannot be created over rtnetlink; this is the `/dev/net/tun` ioctl
/// sequence (`TUNSETIFF`, owner and group, `TUNSETPERSIST`) that `ip tuntap add` uses, with
/// VNET_HDR set as the reference plugin does.
///
/// # Errors
/// The failing step's error (EBUSY when the name is taken, EINVAL for a bad name).
pub fn create_tap(netns: Option<&str>, name: &str, options: &TapOptions) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid tap name {name:?}"),
        ));
    }
    let name = name.to_owned();
    let options = options.clone();
    in_netns(netns, move || {
        let tun = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")?;
        let fd = tun.as_raw_fd();
        // SAFETY: ifreq is plain data; the name fits (checked above) and stays NUL-terminated.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = libc::c_char::from_ne_bytes([src]);
        }
        let mut flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if options.multi_queue {
            flags |= IFF_MULTI_QUEUE;
        }
        req.ifr_ifru.ifru_flags = flags;
        let ioctl = |request: libc::c_ulong, arg: libc::c_ulong| -> io::Result<()> {
            // SAFETY: fd is open for the whole closure; each request takes an integer argument.
            if unsafe { libc::ioctl(fd, request, arg) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        };
        // SAFETY: TUNSETIFF reads and writes the ifreq we own.
        if unsafe { libc::ioctl(fd, TUNSETIFF, std::ptr::addr_of_mut!(req)) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(owner) = options.owner {
            ioctl(TUNSETOWNER, libc::c_ulong::from(owner))?;
        }
        if let Some(group) = options.group {
            ioctl(TUNSETGROUP, libc::c_ulong::from(group))?;
        }
        ioctl(TUNSETPERSIST, 1)
    })
}
