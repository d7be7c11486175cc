// SPDX-License-Identifier: Apache-2.0
//! The warm plugin path's wire protocol, between the exec shim (`cni-shim`) and the agent
//! (`cni agent`): one codec, used by the shim and, through the PyO3 glue, by the agent.
//!
//! Over a unix stream socket the shim sends one request: a 12-byte header (magic, protocol
//! version, flags, body length) and a body of the caller's package version, the plugin's name,
//! its cwd (for logs; the cwd itself travels as an fd), umask, argv and environment. The
//! header's `sendmsg` carries, by SCM_RIGHTS, [`FDS`] descriptors: stdin, stdout, stderr, the
//! caller's network and mount namespaces, its working directory, and the *token*: the read end
//! of a non-blocking pipe holding one byte.
//!
//! Whoever reads the token byte owns the invocation, and the kernel gives it to one reader
//! only. A worker that has checked the request and entered the caller's namespaces takes it
//! and runs the plugin; a shim that gave up waiting (or was refused, or saw the agent hang up)
//! takes it and execs the launcher instead. So a request can never run both here and in its
//! fallback, and no round trip is spent on deciding.
//!
//! Then fixed 8-byte frames (kind, value): the agent answers [`REFUSED`] (with a [`Refusal`])
//! or, once the plugin is done, [`EXIT`] with its status; meanwhile the shim forwards the
//! signals it gets ([`SIGNAL`]).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// First bytes of a request.
pub const MAGIC: [u8; 4] = *b"CNIW";
/// The protocol this build speaks; an agent refuses other versions and the shim falls back.
pub const PROTOCOL: u16 = 1;
/// Header length: magic, protocol (u16), flags (u16), body length (u32), little-endian.
pub const HEADER_LEN: usize = 12;
/// Largest body accepted: an environment and argv are kilobytes (the config is on stdin).
pub const MAX_BODY: u32 = 1 << 20;
/// Descriptors sent with the header, in this order: stdin, stdout, stderr, netns, mntns,
/// cwd, token.
pub const FDS: usize = 7;
/// Length of every frame after the request.
pub const FRAME_LEN: usize = 8;

/// Agent to shim: this request is not served here (the value is a [`Refusal`]).
pub const REFUSED: u32 = 2;
/// Agent to shim: the plugin exited with this status.
pub const EXIT: u32 = 3;
/// Shim to agent: deliver this signal number to the worker.
pub const SIGNAL: u32 = 2;

/// Why an agent did not serve a request; the shim execs the launcher instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Refusal {
    /// The request did not parse, or arrived without its descriptors.
    BadRequest = 1,
    /// The caller is another version of the package (or speaks another protocol).
    Version = 2,
    /// No plugin of that name in this agent.
    UnknownPlugin = 3,
    /// The caller is neither root nor the agent's user.
    Caller = 4,
    /// The caller runs with fewer privileges than the worker would (capabilities,
    /// no_new_privs, seccomp): served here, it would gain them.
    Privileges = 5,
    /// The worker could not enter the caller's namespaces or working directory.
    Namespaces = 6,
}

/// One invocation as the shim saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub version: Vec<u8>,
    pub plugin: Vec<u8>,
    pub cwd: Vec<u8>,
    pub umask: u32,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
}

/// What is wrong with a request's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    BadMagic,
    Protocol(u16),
    TooLarge(u32),
    Truncated,
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a cni-shim request (bad magic)"),
            Self::Protocol(v) => write!(f, "protocol version {v}, this agent speaks {PROTOCOL}"),
            Self::TooLarge(n) => write!(f, "body of {n} bytes is larger than {MAX_BODY}"),
            Self::Truncated => f.write_str("request is truncated"),
            Self::TrailingBytes(n) => write!(f, "{n} bytes after the request"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The body length a header announces, once magic, protocol and size are checked.
///
/// # Errors
/// A short header, another magic or protocol, or a body larger than [`MAX_BODY`].
pub fn decode_header(header: &[u8]) -> Result<u32, DecodeError> {
    if header.len() < HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    if header[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let protocol = u16::from_le_bytes([header[4], header[5]]);
    if protocol != PROTOCOL {
        return Err(DecodeError::Protocol(protocol));
    }
    let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if len > MAX_BODY {
        return Err(DecodeError::TooLarge(len));
    }
    Ok(len)
}

impl Request {
    /// Header and body, ready to send.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(256);
        for field in [&self.version, &self.plugin, &self.cwd] {
            put_bytes(&mut body, field);
        }
        body.extend_from_slice(&self.umask.to_le_bytes());
        for list in [&self.argv, &self.env] {
            put_u32(&mut body, list.len());
            for item in list {
                put_bytes(&mut body, item);
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&PROTOCOL.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        put_u32(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }

    /// A body as [`decode_header`] announced it.
    ///
    /// # Errors
    /// A body that ends inside a field, or goes on after the last.
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader { rest: body };
        let version = reader.bytes()?;
        let plugin = reader.bytes()?;
        let cwd = reader.bytes()?;
        let umask = reader.u32()?;
        let argv = reader.list()?;
        let env = reader.list()?;
        if !reader.rest.is_empty() {
            return Err(DecodeError::TrailingBytes(reader.rest.len()));
        }
        Ok(Self {
            version,
            plugin,
            cwd,
            umask,
            argv,
            env,
        })
    }
}

/// One frame after the request.
pub fn encode_frame(kind: u32, value: i32) -> [u8; FRAME_LEN] {
    let mut out = [0u8; FRAME_LEN];
    out[..4].copy_from_slice(&kind.to_le_bytes());
    out[4..].copy_from_slice(&value.to_le_bytes());
    out
}

pub fn decode_frame(frame: [u8; FRAME_LEN]) -> (u32, i32) {
    let kind = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let value = i32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    (kind, value)
}

static FINISHED: AtomicBool = AtomicBool::new(false);
/// The connection [`watch`] armed; -1 before.
static WATCHED: AtomicI32 = AtomicI32::new(-1);
/// What the kernel raises when the connection becomes readable or the shim hangs up
/// (`O_ASYNC`; nothing else in a worker uses it).
const WATCH_SIGNAL: libc::c_int = libc::SIGIO;

/// In a worker that has taken the token: from now on each signal the shim forwards
/// (SIGTERM, SIGINT, SIGHUP) is raised in this process, and the shim's hanging up before
/// [`finished`] (a runtime SIGKILLed it on a timeout: the operation must die with it, or the
/// runtime's DEL would race it) kills this process.
///
/// No thread does the watching (starting one cost a request 0.1 ms): the connection is
/// switched to `O_ASYNC`, so the kernel raises SIGIO in this process when a frame or the
/// hang-up arrives, and the handler acts on it with async-signal-safe calls only. Without
/// SA_RESTART: a blocking call the plugin is in fails with EINTR, as it would if the
/// forwarded signal had reached an exec'd plugin (so Python raises KeyboardInterrupt there
/// for a SIGINT). The signal comes only when the shim forwards one or goes away; during a
/// DEL, which ignores SIGTERM and SIGINT, the shim keeps those two to itself.
///
/// # Errors
/// The handler could not be installed or the connection not switched to `O_ASYNC`.
pub fn watch(conn: RawFd) -> std::io::Result<()> {
    WATCHED.store(conn, Ordering::SeqCst);
    // SAFETY: a zeroed sigaction is valid; the handler only makes async-signal-safe calls;
    // the fcntls change flags of a descriptor the worker keeps open until it exits.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_connection as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&raw mut action.sa_mask);
        let flags = libc::fcntl(conn, libc::F_GETFL);
        if libc::sigaction(WATCH_SIGNAL, &raw const action, std::ptr::null_mut()) != 0
            || libc::fcntl(conn, libc::F_SETOWN, libc::getpid()) != 0
            || flags < 0
            || libc::fcntl(conn, libc::F_SETFL, flags | libc::O_ASYNC) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    // Whatever arrived before O_ASYNC was set raised nothing.
    act_on(conn);
    Ok(())
}

extern "C" fn on_connection(_: libc::c_int) {
    // SAFETY: errno is this thread's; the handler must leave it as the interrupted code had it.
    let errno = unsafe { *libc::__errno_location() };
    let conn = WATCHED.load(Ordering::SeqCst);
    if conn >= 0 {
        act_on(conn);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Takes every whole frame waiting on the connection, raising the signals they forward;
/// on the hang-up (or a broken connection) before [`finished`], kills this process.
/// Async-signal-safe: recv, kill and getpid only, never blocking.
fn act_on(conn: RawFd) {
    loop {
        let mut frame = [0u8; FRAME_LEN];
        // SAFETY: receiving into a live buffer of its length, without waiting.
        let peeked = unsafe {
            libc::recv(
                conn,
                frame.as_mut_ptr().cast(),
                FRAME_LEN,
                libc::MSG_DONTWAIT | libc::MSG_PEEK,
            )
        };
        match usize::try_from(peeked) {
            Ok(FRAME_LEN) => {
                // SAFETY: as above; the frame is whole, so this takes exactly it.
                unsafe {
                    libc::recv(
                        conn,
                        frame.as_mut_ptr().cast(),
                        FRAME_LEN,
                        libc::MSG_DONTWAIT,
                    )
                };
                if let (SIGNAL, signum @ (libc::SIGTERM | libc::SIGINT | libc::SIGHUP)) =
                    decode_frame(frame)
                {
                    // SAFETY: delivering a forwarded signal to ourselves, as if sent to the plugin.
                    unsafe { libc::kill(libc::getpid(), signum) };
                }
            }
            Ok(0) => return hung_up(),
            // Part of a frame: its rest raises the signal again.
            Ok(_) => return,
            // SAFETY: this thread's errno, just set by recv.
            Err(_) => match unsafe { *libc::__errno_location() } {
                libc::EINTR => {}
                libc::EAGAIN => return,
                _ => return hung_up(),
            },
        }
    }
}

fn hung_up() {
    if !FINISHED.load(Ordering::SeqCst) {
        // SAFETY: killing ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// The plugin is done and its status about to be sent: the shim's hanging up from now on is
/// the normal end, not a reason to kill.
pub fn finished() {
    FINISHED.store(true, Ordering::SeqCst);
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Bodies are bounded by MAX_BODY, far below u32::MAX.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    fn list(&mut self) -> Result<Vec<Vec<u8>>, DecodeError> {
        let n = self.u32()? as usize;
        // Each item costs at least its 4-byte length: a count beyond that is a lie, and
        // must not size an allocation.
        if n > self.rest.len() / 4 {
            return Err(DecodeError::Truncated);
        }
        (0..n).map(|_| self.bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Request {
        Request {
            version: b"0.1.0".to_vec(),
            plugin: b"bridge".to_vec(),
            cwd: b"/".to_vec(),
            umask: 0o022,
            argv: vec![b"/opt/cni/bin/bridge".to_vec()],
            env: vec![b"CNI_COMMAND=ADD".to_vec(), b"X=\xff".to_vec()],
        }
    }

    #[test]
    fn request_round_trips() {
        let bytes = sample().encode();
        let len = decode_header(&bytes).unwrap() as usize;
        assert_eq!(len, bytes.len() - HEADER_LEN);
        assert_eq!(
            Request::decode_body(&bytes[HEADER_LEN..]).unwrap(),
            sample()
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = sample().encode();
        let body = &bytes[HEADER_LEN..];
        for cut in 0..body.len() {
            assert_eq!(
                Request::decode_body(&body[..cut]),
                Err(DecodeError::Truncated),
                "{cut}"
            );
        }
        let mut longer = body.to_vec();
        longer.push(0);
        assert_eq!(
            Request::decode_body(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn headers_are_checked() {
        let mut bytes = sample().encode();
        assert_eq!(decode_header(&bytes[..5]), Err(DecodeError::Truncated));
        bytes[4] = 9;
        assert_eq!(decode_header(&bytes), Err(DecodeError::Protocol(9)));
        bytes[0] = b'X';
        assert_eq!(decode_header(&bytes), Err(DecodeError::BadMagic));
        let mut big = sample().encode();
        big[8..12].copy_from_slice(&(MAX_BODY + 1).to_le_bytes());
        assert_eq!(
            decode_header(&big),
            Err(DecodeError::TooLarge(MAX_BODY + 1))
        );
    }

    #[test]
    fn a_huge_count_does_not_allocate() {
        let mut body = Vec::new();
        for _ in 0..3 {
            put_bytes(&mut body, b"");
        }
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Request::decode_body(&body), Err(DecodeError::Truncated));
    }

    #[test]
    fn frames_round_trip() {
        assert_eq!(decode_frame(encode_frame(EXIT, -3)), (EXIT, -3));
        let frame = encode_frame(REFUSED, Refusal::Privileges as i32);
        assert_eq!(decode_frame(frame), (REFUSED, 5));
    }
}
