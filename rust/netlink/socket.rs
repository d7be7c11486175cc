// SPDX-License-Identifier: Apache-2.0
//! A synchronous rtnetlink socket, bound to one network namespace.
//!
//! Requests are acknowledged (the kernel's errno becomes [`NetlinkError`] with the
//! operation named); dumps collect every part and are retried when the kernel reports that
//! the dump was interrupted by a concurrent change (`NLM_F_DUMP_INTR`).

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

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16, operation: &str) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket
            .send(&out, 0)
            .map_err(|e| NetlinkError::io(operation, &e))?;
        Ok(self.seq)
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
        let size = loop {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetlinkError::io(operation, &e)),
            }
        };
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
            if packet.header.sequence_number == seq {
                out.push((packet.header.flags, packet.payload));
            }
            offset += (length + 3) & !3;
        }
        Ok(out)
    }
}
