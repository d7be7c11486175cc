// SPDX-License-Identifier: Apache-2.0
//! The few system calls the shim needs that std does not offer: descriptors over SCM_RIGHTS,
//! the peer's credentials, a signalfd, poll and exec.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The signals a runtime sends a plugin it wants stopped: forwarded to the worker.
pub const FORWARDED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Blocks [`FORWARDED`] (so none is lost between connecting and forwarding) and returns the
/// mask to restore before an exec, and a signalfd that reads them.
pub fn block_forwarded() -> io::Result<(libc::sigset_t, OwnedFd)> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to the sets above, on this single-threaded process.
    unsafe {
        libc::sigemptyset(&raw mut set);
        for signum in FORWARDED {
            libc::sigaddset(&raw mut set, signum);
        }
        check(libc::sigprocmask(
            libc::SIG_BLOCK,
            &raw const set,
            &raw mut old,
        ))?;
    }
    // SAFETY: a new descriptor is returned, which we own.
    let fd = check(unsafe { libc::signalfd(-1, &raw const set, libc::SFD_CLOEXEC) })?;
    // SAFETY: fd was just created and is owned by nothing else.
    Ok((old, unsafe { OwnedFd::from_raw_fd(fd) }))
}

pub fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: `old` came from sigprocmask.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// The signal number a signalfd read gave, if any.
pub fn read_signal(fd: &OwnedFd) -> Option<i32> {
    // SAFETY: signalfd_siginfo is plain data, filled by read.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reading at most `size` bytes into `info`.
    let n = unsafe { libc::read(fd.as_raw_fd(), std::ptr::addr_of_mut!(info).cast(), size) };
    (usize::try_from(n).ok() == Some(size)).then(|| i32::try_from(info.ssi_signo).unwrap_or(0))
}

/// Dies of `signum` as a plugin process would have (the worker did).
pub fn die_by(signum: i32, old: &libc::sigset_t) -> ! {
    // SAFETY: resetting a disposition and raising on ourselves.
    unsafe {
        libc::signal(signum, libc::SIG_DFL);
        restore_mask(old);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, signum);
        libc::sigprocmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
        libc::raise(signum);
    }
    std::process::exit(128 + signum)
}

/// uid of the process at the other end.
pub fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    // SAFETY: ucred is plain data; getsockopt writes at most `len` bytes into it.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::ucred>()).unwrap_or(0);
    check(unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &raw mut len,
        )
    })?;
    Ok(cred.uid)
}

pub fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// The umask, read without changing it for longer than two calls.
pub fn umask() -> u32 {
    // SAFETY: umask cannot fail; the old value is put straight back.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    }
}

/// Whether `fd` is open.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only asks about the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

pub fn open(path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid C string; the descriptor returned is ours.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: fd was just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking pipe holding one byte: the read end is the token (`cni_core::warm`).
pub fn token() -> io::Result<OwnedFd> {
    let mut ends = [0; 2];
    // SAFETY: pipe2 fills both ends, which we then own.
    check(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    // SAFETY: both descriptors were just created.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    // SAFETY: one byte from a live buffer.
    if unsafe { libc::write(write.as_raw_fd(), b"t".as_ptr().cast(), 1) } != 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(read)
}

/// Whether this read took the token's byte (then nobody else can).
pub fn take(token: &OwnedFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: one byte into a live buffer; the pipe is non-blocking.
    unsafe { libc::read(token.as_raw_fd(), std::ptr::addr_of_mut!(byte).cast(), 1) == 1 }
}

/// Sends `data` with `fds` attached to its first byte; the rest of `data`, if the kernel
/// took only part, by plain writes.
pub fn send_with_fds(stream: &UnixStream, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(u32::try_from(fd_bytes).unwrap_or(0)) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: the control buffer is CMSG_SPACE(fd_bytes) long, so the first header and
    // its data fit; the fds are copied into it.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(u32::try_from(fd_bytes).unwrap_or(0)) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
        libc::sendmsg(stream.as_raw_fd(), &raw const msg, libc::MSG_NOSIGNAL)
    };
    let sent = usize::try_from(sent).map_err(|_| io::Error::last_os_error())?;
    let mut rest = &data[sent..];
    while !rest.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Sends one frame; a peer that is gone is not an error worth more than dropping it.
pub fn send(stream: &UnixStream, data: &[u8]) -> io::Result<()> {
    // SAFETY: writing from a live slice; MSG_NOSIGNAL keeps a gone peer from raising SIGPIPE.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    match usize::try_from(n) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err(io::Error::from(io::ErrorKind::WriteZero)),
        Err(_) => Err(io::Error::last_os_error()),
    }
}

/// Readiness of two descriptors, waiting at most `timeout_ms` (-1: forever); retried on EINTR.
pub fn poll2(a: RawFd, b: Option<RawFd>, timeout_ms: i32) -> io::Result<(bool, bool)> {
    let mut fds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfd entries (a negative fd is ignored by poll).
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if rc >= 0 {
            return Ok((fds[0].revents != 0, fds[1].revents != 0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Replaces this process with `path`, passing `argv`; returns only on failure.
pub fn exec(path: &Path, argv: &[OsString]) -> io::Error {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return io::Error::from(io::ErrorKind::InvalidInput);
    };
    let Ok(c_args) = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return io::Error::from(io::ErrorKind::InvalidInput);
    };
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and a NULL-terminated array that outlive the call;
    // execv keeps the environment as it is.
    unsafe { libc::execv(c_path.as_ptr(), ptrs.as_ptr()) };
    io::Error::last_os_error()
}
