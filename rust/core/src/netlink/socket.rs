// SPDX-License-Identifier: Apache-2.0
//! A synchronous rtnetlink socket, bound to one network namespace.
//!
//! Requests are acknowledged (the kernel's errno becomes [`NetlinkError`] with the
//! operation named), alone or several in one datagram ([`NetlinkSocket::request_batch`]);
//! dumps collect every part and are retried when the kernel reports that the dump was
//! interrupted by a concurrent change (`NLM_F_DUMP_INTR`).

use std::fmt;
use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::ns::in_netns;

const DUMP_RETRIES: usize = 5;
/// Requests per datagram of a batch: their acknowledgements (each a small skb, but charged
/// to our receive buffer at its full truesize) must fit the default 208 KiB buffer.
const BATCH_MAX: usize = 64;

/// A failed netlink operation: the kernel's errno (or 0) and what was being done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkError {
    pub errno: i32,
    pub operation: String,
    pub message: String,
}

impl NetlinkError {
    pub fn new(operation: &str, errno: i32) -> Self {
        NetlinkError {
            errno,
            operation: operation.to_owned(),
            message: io::Error::from_raw_os_error(errno).to_string(),
        }
    }

    fn io(operation: &str, err: &io::Error) -> Self {
        NetlinkError {
            errno: err.raw_os_error().unwrap_or(0),
            operation: operation.to_owned(),
            message: err.to_string(),
        }
    }

    fn protocol(operation: &str, message: String) -> Self {
        NetlinkError {
            errno: 0,
            operation: operation.to_owned(),
            message,
        }
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.message)
    }
}

impl std::error::Error for NetlinkError {}

pub type Result<T> = std::result::Result<T, NetlinkError>;

/// One request of a batch: the message, its extra header flags, and its name in errors.
pub struct Request {
    pub message: RouteNetlinkMessage,
    pub flags: u16,
    pub operation: String,
}

/// An rtnetlink socket in one namespace.
pub struct NetlinkSocket {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl NetlinkSocket {
    /// Opens a socket in the namespace at `netns` (None: the caller's).
    ///
    /// # Errors
    /// [`NetlinkError`] when the namespace or the socket cannot be opened.
    pub fn open(netns: Option<&str>) -> Result<Self> {
        let socket = in_netns(netns, || {
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            socket.bind_auto()?;
            socket.connect(&SocketAddr::new(0, 0))?;
            Ok(socket)
        })
        .map_err(|e| {
            NetlinkError::io(
                &format!(
                    "open netlink socket in {}",
                    netns.unwrap_or("the current namespace")
                ),
                &e,
            )
        })?;
        Ok(NetlinkSocket {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Appends `message` to `out` with the next sequence number, which it returns.
    fn encode(&mut self, message: RouteNetlinkMessage, flags: u16, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let start = out.len();
        // Messages in one datagram start on 4-byte boundaries (NLMSG_ALIGN).
        out.resize(start + ((packet.buffer_len() + 3) & !3), 0);
        packet.serialize(&mut out[start..start + packet.buffer_len()]);
        self.seq
    }

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16, operation: &str) -> Result<u32> {
        let mut out = Vec::new();
        let seq = self.encode(message, flags, &mut out);
        self.socket
            .send(&out, 0)
            .map_err(|e| NetlinkError::io(operation, &e))?;
        Ok(seq)
    }

    /// Sends `message` from a detached grandchild (`crate::detached`) over a socket of its
    /// own in `netns`, and returns at once: the kernel's waits after its visible work (a
    /// link's unregistration) are the grandchild's. The returned pipe end (non-blocking)
    /// yields the errno, 4 bytes, if the kernel refused; the caller watches for the effect.
    ///
    /// # Errors
    /// [`NetlinkError`] when the socket, the pipe or the fork cannot be made.
    pub fn request_detached(
        netns: Option<&str>,
        message: RouteNetlinkMessage,
        operation: &str,
    ) -> Result<std::os::fd::OwnedFd> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

        let mut spare = NetlinkSocket::open(netns)?;
        let mut bytes = Vec::new();
        spare.encode(message, NLM_F_REQUEST | NLM_F_ACK, &mut bytes);
        let socket = spare.socket.as_raw_fd();
        let mut pipe = [0; 2];
        // SAFETY: pipe2 fills both ends, which we own from here on.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(NetlinkError::io(operation, &io::Error::last_os_error()));
        }
        // SAFETY: both ends were just created.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        let report = write_end.as_raw_fd();
        // SAFETY: the job only calls send, recv and write on buffers made before the fork.
        let started = unsafe {
            crate::detached::in_grandchild(&[socket, report], || {
                let mut errno = 0;
                if libc::send(socket, bytes.as_ptr().cast(), bytes.len(), 0) < 0 {
                    errno = *libc::__errno_location();
                } else {
                    let mut answer = [0u8; 512];
                    let n = libc::recv(socket, answer.as_mut_ptr().cast(), answer.len(), 0);
                    // nlmsghdr (16 bytes, type 2 = NLMSG_ERROR), then the negative errno.
                    if n >= 20 && u16::from_ne_bytes([answer[4], answer[5]]) == 2 {
                        errno =
                            -i32::from_ne_bytes([answer[16], answer[17], answer[18], answer[19]]);
                    }
                }
                if errno != 0 {
                    libc::write(report, std::ptr::from_ref(&errno).cast(), 4);
                }
            })
        };
        drop(write_end);
        drop(spare);
        if !started {
            return Err(NetlinkError::io(operation, &io::Error::last_os_error()));
        }
        Ok(read_end)
    }

    /// Sends one request and waits for the kernel's acknowledgement.
    ///
    /// # Errors
    /// [`NetlinkError`] with the kernel's errno.
    pub fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        operation: &str,
    ) -> Result<()> {
        let seq = self.send(message, flags | NLM_F_REQUEST | NLM_F_ACK, operation)?;
        loop {
            for (_, payload) in self.receive(seq, operation)? {
                if let NetlinkPayload::Error(err) = payload {
                    return match err.code {
                        None => Ok(()),
                        Some(code) => Err(NetlinkError::new(operation, -code.get())),
                    };
                }
            }
        }
    }

    /// Sends the requests in as few datagrams as the socket takes and waits for every
    /// acknowledgement. The kernel handles them in order, each on its own: a failure does
    /// not stop the ones after it.
    ///
    /// A datagram carries at most [`BATCH_MAX`] requests: the kernel queues one
    /// acknowledgement per request on our receive buffer before we read any, and a few
    /// hundred of them overflow it (ENOBUFS, and the answers are lost).
    ///
    /// # Errors
    /// The first failed request's [`NetlinkError`] (in request order), reported once every
    /// acknowledgement has been read, so the socket stays in step.
    pub fn request_batch(&mut self, requests: Vec<Request>) -> Result<()> {
        let mut first_failure = None;
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let chunk: Vec<Request> = requests.by_ref().take(BATCH_MAX).collect();
            // A failure of the socket itself (`?`) ends the batch: no later answer can be read.
            if let Some(err) = self.request_datagram(chunk)? {
                first_failure.get_or_insert(err);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// One datagram of [`request_batch`](Self::request_batch): the first request the
    /// kernel refused, once every answer has been read.
    fn request_datagram(&mut self, requests: Vec<Request>) -> Result<Option<NetlinkError>> {
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        let mut operations = Vec::with_capacity(requests.len());
        for request in requests {
            self.encode(
                request.message,
                request.flags | NLM_F_REQUEST | NLM_F_ACK,
                &mut out,
            );
            operations.push(request.operation);
        }
        let batch = format!("batch of {} requests", operations.len());
        self.socket
            .send(&out, 0)
            .map_err(|e| NetlinkError::io(&batch, &e))?;
        let mut answers: Vec<Option<Option<i32>>> = vec![None; operations.len()];
        let mut waiting = operations.len();
        while waiting > 0 {
            for (seq, _, payload) in self.receive_where(&batch, |seq| {
                (seq.wrapping_sub(first) as usize) < operations.len()
            })? {
                let slot = &mut answers[seq.wrapping_sub(first) as usize];
                if let (NetlinkPayload::Error(err), None) = (payload, &slot) {
                    *slot = Some(err.code.map(|code| -code.get()));
                    waiting -= 1;
                }
            }
        }
        Ok(answers
            .into_iter()
            .zip(&operations)
            .find_map(|(answer, operation)| match answer {
                Some(Some(errno)) => Some(NetlinkError::new(operation, errno)),
                _ => None,
            }))
    }

    /// Sends one request and returns the messages answered before the acknowledgement
    /// (a GET of one object).
    ///
    /// # Errors
    /// [`NetlinkError`] with the kernel's errno.
    pub fn query(
        &mut self,
        message: RouteNetlinkMessage,
        operation: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_ACK, operation)?;
        let mut out = Vec::new();
        loop {
            for (_, payload) in self.receive(seq, operation)? {
                match payload {
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    NetlinkPayload::Error(err) => {
                        return match err.code {
                            None => Ok(out),
                            Some(code) => Err(NetlinkError::new(operation, -code.get())),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends a dump request and returns every message of the answer.
    ///
    /// # Errors
    /// [`NetlinkError`]; an interrupted dump is retried a few times first.
    pub fn dump(
        &mut self,
        message: &RouteNetlinkMessage,
        operation: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        for _ in 0..DUMP_RETRIES {
            let seq = self.send(message.clone(), NLM_F_REQUEST | NLM_F_DUMP, operation)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            'parts: loop {
                for (flags, payload) in self.receive(seq, operation)? {
                    interrupted |= flags & NLM_F_DUMP_INTR != 0;
                    match payload {
                        NetlinkPayload::InnerMessage(inner) => out.push(inner),
                        NetlinkPayload::Done(_) => break 'parts,
                        NetlinkPayload::Error(err) => {
                            if let Some(code) = err.code {
                                return Err(NetlinkError::new(operation, -code.get()));
                            }
                        }
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(NetlinkError::new(operation, libc::EINTR))
    }

    /// One datagram's messages for `seq`, each with its header flags.
    fn receive(
        &mut self,
        seq: u32,
        operation: &str,
    ) -> Result<Vec<(u16, NetlinkPayload<RouteNetlinkMessage>)>> {
        Ok(self
            .receive_where(operation, |s| s == seq)?
            .into_iter()
            .map(|(_, flags, payload)| (flags, payload))
            .collect())
    }

    /// One datagram's messages whose sequence number is `wanted`, with number and flags.
    fn receive_where(
        &mut self,
        operation: &str,
        wanted: impl Fn(u32) -> bool,
    ) -> Result<Vec<(u32, u16, NetlinkPayload<RouteNetlinkMessage>)>> {
        let size = recv_datagram(&self.socket, &mut self.buf)
            .map_err(|e| NetlinkError::io(operation, &e))?;
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < size {
            let packet =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..size])
                    .map_err(|e| {
                        NetlinkError::protocol(
                            operation,
                            format!("cannot parse the kernel's answer: {e}"),
                        )
                    })?;
            let length = packet.header.length as usize;
            if length == 0 {
                break;
            }
            if wanted(packet.header.sequence_number) {
                out.push((
                    packet.header.sequence_number,
                    packet.header.flags,
                    packet.payload,
                ));
            }
            offset += (length + 3) & !3;
        }
        Ok(out)
    }
}

/// One datagram from a netlink socket (route or netfilter), its wait retried when a signal
/// interrupts it: the agent's worker learns of a forwarded signal by a SIGIO that does.
pub(crate) fn recv_datagram(socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match socket.recv(&mut &mut buf[..], 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}
