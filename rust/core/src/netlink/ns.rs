// SPDX-License-Identifier: Apache-2.0
//! Doing something inside another network namespace without moving the caller.
//!
//! `setns` changes the namespace of one OS thread. The calling thread enters the namespace,
//! does the work and goes back before anything else runs on it: callers hold no Python
//! state meanwhile (the bindings release the GIL around it), a panic is caught until the
//! thread is home, and a thread that cannot go home aborts the process rather than leave a
//! Python thread in a container's namespace. (A short-lived thread per entry cost 140 µs,
//! 380 µs for a worker's first, against 20 µs for the two `setns`.) A netlink socket or a
//! `/proc/sys/net` file opened there stays bound to that namespace after the thread is back.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Runs `work` on this thread inside the network namespace at `path` (a bind mount such
/// as `/var/run/netns/x`, or `/proc/<pid>/ns/net`); with `None`, in the caller's namespace.
///
/// # Errors
/// The error of opening or entering the namespace, or of `work`.
pub fn in_netns<T, F>(path: Option<&str>, work: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T>,
{
    let Some(path) = path else {
        return work();
    };
    let target = File::open(path)?;
    let home = File::open("/proc/thread-self/ns/net")?;
    enter(&target)?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    if enter(&home).is_err() {
        // Nothing may run on in a namespace it did not choose.
        std::process::abort();
    }
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn enter(namespace: &File) -> io::Result<()> {
    // SAFETY: setns on this thread only, with a valid namespace fd; CLONE_NEWNET makes the
    // kernel refuse a file that is not a network namespace.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
