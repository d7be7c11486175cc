// SPDX-License-Identifier: Apache-2.0
//! Persistent tap devices (`TUNSETIFF` with VNET_HDR): tun/tap cannot be made over
//! rtnetlink with these flags, so through `/dev/net/tun` in the target namespace.

use std::io;
use std::os::fd::AsRawFd;

use super::ns::in_netns;

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
