// SPDX-License-Identifier: Apache-2.0
//! Kernel waits handed to a detached grandchild.
//!
//! Some kernel operations finish their visible work at once and then wait for RCU grace
//! periods before returning: releasing the last netfilter socket after a transaction that
//! removed objects, deleting a veth (its unregistration). That wait, 10-40 ms here, need not
//! be the caller's. A grandchild (reparented at once, so nobody has to reap it) keeps only
//! the descriptors it is given, does the waiting syscalls and exits. It runs no Rust
//! allocation or Python code, only async-signal-safe calls, so forking a multi-threaded
//! process is sound. It closes every other descriptor first, so it holds no pipe a runtime
//! waits on for EOF.

use std::os::fd::RawFd;

/// Runs `job` in a detached grandchild that keeps only `keep` open; returns once the
/// intermediate child has exited (false if it could not be forked).
///
/// # Safety
/// `job` must only make async-signal-safe calls (no allocation, no locks) and must not
/// return to Rust code that unwinds: it ends with `_exit` either way.
pub unsafe fn in_grandchild(keep: &[RawFd], job: impl FnOnce()) -> bool {
    // SAFETY: fork, waitpid and _exit; the child and grandchild follow the caller's promise.
    unsafe {
        let child = libc::fork();
        if child == 0 {
            if libc::fork() == 0 {
                close_all_but(keep);
                job();
            }
            libc::_exit(0);
        }
        if child < 0 {
            return false;
        }
        libc::waitpid(child, std::ptr::null_mut(), 0);
        true
    }
}

/// Closes every descriptor but `keep`.
///
/// # Safety
/// Only in a freshly forked child: the descriptors of other threads vanish.
unsafe fn close_all_but(keep: &[RawFd]) {
    let top = keep.iter().copied().max().unwrap_or(-1);
    for fd in 0..top {
        if !keep.contains(&fd) {
            // SAFETY: closing a descriptor of this (forked) process.
            unsafe { libc::close(fd) };
        }
    }
    let from = libc::c_uint::try_from(top + 1).unwrap_or(0);
    // SAFETY: close_range(top + 1, ~0); older kernels without it: a bounded loop.
    unsafe {
        if libc::syscall(libc::SYS_close_range, from, libc::c_uint::MAX, 0) != 0 {
            for fd in top + 1..65536 {
                libc::close(fd);
            }
        }
    }
}
