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

/// A socket of `family` and `kind` (SOCK_CLOEXEC added) made inside the network namespace
/// at `path`: it stays bound to that namespace, whichever thread uses it later.
///
/// # Errors
/// The error of entering the namespace or of `socket(2)`.
pub fn socket_in(path: &str, family: i32, kind: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;

    in_netns(Some(path), move || {
        // SAFETY: socket(2) with plain integer arguments; the fd is owned from here on.
        let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    })
}
