// SPDX-License-Identifier: Apache-2.0
//! Sending a [`Batch`] to nf_tables as one transaction over a netfilter netlink socket, and
//! reading elements back.
//!
//! Every message of a batch asks for an acknowledgement and every one is read, so the caller
//! learns which operations failed and why; the kernel applies all of the batch or none of it.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::batch::{encode_elements, push_message, Batch, Element, Op, NLM_F_ACK, NLM_F_REQUEST};
use super::rule::Family;
use super::wire::{self, Writer};
use crate::netlink::socket::recv_datagram;
use crate::netlink::NetlinkError;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOL_NETLINK: i32 = 270;
const NETLINK_CAP_ACK: i32 = 10;
/// Acknowledgements of a large batch queue up before we read them: room for many.
const RECEIVE_BUFFER: usize = 8 << 20;

/// The operations of a batch the kernel refused: each one's index and errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub failures: Vec<(usize, i32)>,
}

pub struct NftSocket {
    socket: std::mem::ManuallyDrop<Socket>,
    seq: u32,
    /// A transaction of ours removed something (see [`NftSocket`]'s `Drop`).
    removed: bool,
}

fn io_error(operation: &str, err: &io::Error) -> NetlinkError {
    NetlinkError::new(operation, err.raw_os_error().unwrap_or(libc::EIO))
}

impl NftSocket {
    /// A netfilter socket in the caller's network namespace.
    ///
    /// # Errors
    /// When the socket cannot be opened (no nf_tables, or no CAP_NET_ADMIN shows later).
    pub fn open() -> Result<Self, NetlinkError> {
        let open = || -> io::Result<Socket> {
            let mut socket = Socket::new(NETLINK_NETFILTER)?;
            socket.bind_auto()?;
            socket.connect(&SocketAddr::new(0, 0))?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
            let one: libc::c_int = 1;
            let size = libc::c_int::try_from(RECEIVE_BUFFER).unwrap_or(libc::c_int::MAX);
            // SAFETY: plain setsockopt calls on our own socket with int-sized values. Failures
            // are harmless: CAP_ACK only trims acknowledgements, and the buffer falls back to
            // the default size without CAP_NET_ADMIN.
            unsafe {
                let int =
                    libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
                libc::setsockopt(
                    fd,
                    SOL_NETLINK,
                    NETLINK_CAP_ACK,
                    std::ptr::from_ref(&one).cast(),
                    int,
                );
                if libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    std::ptr::from_ref(&size).cast(),
                    int,
                ) != 0
                {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_RCVBUF,
                        std::ptr::from_ref(&size).cast(),
                        int,
                    );
                }
            }
            Ok(socket)
        };
        let socket = open().map_err(|e| io_error("open a netfilter netlink socket", &e))?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        Ok(NftSocket {
            socket: std::mem::ManuallyDrop::new(socket),
            seq,
            removed: false,
        })
    }

    /// Reads replies until every sequence number in `pending` is answered, calling `reply`
    /// for each message that is not an acknowledgement.
    fn collect(
        &mut self,
        operation: &str,
        seqs: &[u32],
        mut reply: impl FnMut(u32, &[u8]),
    ) -> Result<Vec<(usize, i32)>, NetlinkError> {
        let mut answered = vec![false; seqs.len()];
        let mut left = seqs.len();
        let mut failures = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 {
            let n = recv_datagram(&self.socket, &mut buf).map_err(|e| io_error(operation, &e))?;
            for (kind, seq, body) in messages(&buf[..n]) {
                if let Some(index) = seqs.iter().position(|s| *s == seq) {
                    if kind == NLMSG_ERROR && body.len() >= 4 {
                        let errno = -i32::from_ne_bytes(body[..4].try_into().unwrap_or_default());
                        if !answered[index] {
                            answered[index] = true;
                            left -= 1;
                        }
                        if errno != 0 {
                            failures.push((index, errno));
                        }
                    } else if kind != NLMSG_DONE {
                        reply(seq, body);
                    }
                }
            }
        }
        failures.sort_unstable();
        Ok(failures)
    }

    /// Sends the batch as one transaction.
    ///
    /// # Errors
    /// `Err(Ok(Refused))` when the kernel refused operations (and so applied nothing);
    /// `Err(Err(_))` when the socket failed.
    pub fn apply(&mut self, batch: &Batch) -> Result<(), Result<Refused, NetlinkError>> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let (bytes, seqs) = batch.encode(self.seq.wrapping_add(1));
        self.seq = self
            .seq
            .wrapping_add(u32::try_from(seqs.len()).unwrap_or(0) + 2);
        self.removed |= batch
            .ops
            .iter()
            .any(|op| matches!(op, Op::FlushChain(_) | Op::DeleteElement(..)));
        let operation = format!(
            "nf_tables transaction on {} {}",
            batch.family.name(),
            batch.table
        );
        self.socket
            .send(&bytes, 0)
            .map_err(|e| Err(io_error(&operation, &e)))?;
        let failures = self.collect(&operation, &seqs, |_, _| {}).map_err(Err)?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Ok(Refused { failures }))
        }
    }

    /// One request of another netfilter subsystem (`kind` holds it), acknowledged.
    ///
    /// # Errors
    /// The kernel's refusal, or a socket failure.
    pub fn request(
        &mut self,
        kind: u16,
        family: u8,
        operation: &str,
        body: impl FnOnce(&mut Writer),
    ) -> Result<(), NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut bytes = Vec::new();
        push_message(
            &mut bytes,
            kind,
            NLM_F_REQUEST | NLM_F_ACK,
            self.seq,
            family,
            0,
            body,
        );
        self.socket
            .send(&bytes, 0)
            .map_err(|e| io_error(operation, &e))?;
        match self.collect(operation, &[self.seq], |_, _| {})?.first() {
            Some((_, errno)) => Err(NetlinkError::new(operation, *errno)),
            None => Ok(()),
        }
    }

    /// Every message of a dump (each body starts with its nfgenmsg).
    ///
    /// # Errors
    /// The kernel's refusal, or a socket failure.
    pub fn dump(
        &mut self,
        kind: u16,
        family: u8,
        operation: &str,
    ) -> Result<Vec<Vec<u8>>, NetlinkError> {
        const NLM_F_DUMP: u16 = 0x300;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut bytes = Vec::new();
        push_message(
            &mut bytes,
            kind,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            family,
            0,
            |_| {},
        );
        self.socket
            .send(&bytes, 0)
            .map_err(|e| io_error(operation, &e))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = recv_datagram(&self.socket, &mut buf).map_err(|e| io_error(operation, &e))?;
            for (msg_kind, msg_seq, body) in messages(&buf[..n]) {
                if msg_seq != seq {
                    continue;
                }
                match msg_kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = -i32::from_ne_bytes(
                            body.get(..4)
                                .and_then(|b| b.try_into().ok())
                                .unwrap_or_default(),
                        );
                        return if errno == 0 {
                            Ok(out)
                        } else {
                            Err(NetlinkError::new(operation, errno))
                        };
                    }
                    _ => out.push(body.to_vec()),
                }
            }
        }
    }

    /// Sends `count` nf_tables requests of one kind (`body(i)` writes the i-th) and reads
    /// every answer, giving `reply(i, body)` each message that is not an acknowledgement.
    /// Returns which were answered ENOENT (absent); any other refusal is an error.
    fn lookups(
        &mut self,
        message: u16,
        family: Family,
        operation: &str,
        count: usize,
        body: impl Fn(usize, &mut Writer),
        mut reply: impl FnMut(usize, &[u8]),
    ) -> Result<Vec<bool>, NetlinkError> {
        let mut bytes = Vec::new();
        let mut seqs = Vec::new();
        let kind = (wire::NFNL_SUBSYS_NFTABLES << 8) | message;
        for i in 0..count {
            self.seq = self.seq.wrapping_add(1);
            seqs.push(self.seq);
            let flags = NLM_F_REQUEST | NLM_F_ACK;
            push_message(&mut bytes, kind, flags, self.seq, family as u8, 0, |w| {
                body(i, w);
            });
        }
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.socket
            .send(&bytes, 0)
            .map_err(|e| io_error(operation, &e))?;
        let failures = self.collect(operation, &seqs, |seq, data| {
            if let Some(i) = seqs.iter().position(|s| *s == seq) {
                reply(i, data);
            }
        })?;
        if let Some((_, errno)) = failures.iter().find(|(_, e)| *e != libc::ENOENT) {
            return Err(NetlinkError::new(operation, *errno));
        }
        Ok((0..count)
            .map(|i| failures.iter().any(|(f, _)| *f == i))
            .collect())
    }

    /// Whether nf_tables answers us: a lookup of a table that does not exist must come back
    /// ENOENT (EPERM without CAP_NET_ADMIN, EPROTONOSUPPORT without nf_tables).
    ///
    /// # Errors
    /// The kernel's answer when it is not ENOENT.
    pub fn probe(&mut self) -> Result<(), NetlinkError> {
        let body = |_, w: &mut Writer| w.str(wire::NFTA_TABLE_NAME, "cni-probe-absent");
        self.lookups(
            wire::NFT_MSG_GETTABLE,
            Family::Ip,
            "ask nf_tables for a table",
            1,
            body,
            |_, _| {},
        )?;
        Ok(())
    }

    /// The owner comment of each element, as the kernel holds it (None: not in the set,
    /// or no comment).
    ///
    /// # Errors
    /// When the socket fails, or the kernel refuses a lookup for another reason than a
    /// missing element, set or table.
    pub fn comments(
        &mut self,
        family: Family,
        table: &str,
        set: &str,
        elements: &[Element],
    ) -> Result<Vec<Option<String>>, NetlinkError> {
        let operation = format!("read elements of {} {table} {set}", family.name());
        let mut found: Vec<Option<String>> = vec![None; elements.len()];
        self.lookups(
            wire::NFT_MSG_GETSETELEM,
            family,
            &operation,
            elements.len(),
            |i, w| encode_elements(w, table, set, &[elements[i].key_only()]),
            |i, body| found[i] = parse_comment(body.get(4..).unwrap_or_default()),
        )?;
        Ok(found)
    }
}

/// The netlink messages in one datagram: (type, sequence number, body).
fn messages(data: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = data.get(at..at + 16)?;
        let len = u32::from_ne_bytes(header[..4].try_into().ok()?) as usize;
        if len < 16 || at + len > data.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let seq = u32::from_ne_bytes(header[8..12].try_into().ok()?);
        let body = &data[at + 16..at + len];
        at += (len + 3) & !3;
        Some((kind, seq, body))
    })
}

/// Iterates the attributes in `data` as (type without flags, payload).
fn attrs(data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + 4 > data.len() {
            return None;
        }
        let len = u16::from_ne_bytes([data[at], data[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([data[at + 2], data[at + 3]]) & 0x3fff;
        if len < 4 || at + len > data.len() {
            return None;
        }
        let payload = &data[at + 4..at + len];
        at += (len + 3) & !3;
        Some((kind, payload))
    })
}

/// The payload of the first attribute of type `kind` in `data`.
pub(crate) fn find(data: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(data).find(|(k, _)| *k == kind).map(|(_, p)| p)
}

/// The comment of the first element in a NEWSETELEM message body (after nfgenmsg): its
/// userdata TLV of type NFTNL_UDATA_SET_ELEM_COMMENT (0).
fn parse_comment(body: &[u8]) -> Option<String> {
    let list = find(body, wire::NFTA_SET_ELEM_LIST_ELEMENTS)?;
    let elem = find(list, wire::NFTA_LIST_ELEM)?;
    let udata = find(elem, wire::NFTA_SET_ELEM_USERDATA)?;
    let mut at = 0;
    while at + 2 <= udata.len() {
        let (kind, len) = (udata[at], usize::from(udata[at + 1]));
        let value = udata.get(at + 2..at + 2 + len)?;
        if kind == 0 {
            let text = value.strip_suffix(&[0]).unwrap_or(value);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        at += 2 + len;
    }
    None
}

impl Drop for NftSocket {
    /// After a transaction that removed objects, the kernel frees them once an RCU grace
    /// period has passed, and the release of the last netfilter socket of a process waits
    /// for that (`nft_rcv_nl_event` flushes the pending destroy work): 10-40 ms here, on
    /// every DEL. The objects are gone from the ruleset already, so that wait need not be
    /// the caller's: a detached grandchild keeps a reference to the socket until we have
    /// closed ours, and pays the wait in the background (`crate::detached`).
    fn drop(&mut self) {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&*self.socket);
        let holder = if self.removed {
            hold_in_background(fd)
        } else {
            None
        };
        // SAFETY: the socket is dropped exactly once, here.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.socket) };
        if let Some(write_end) = holder {
            // SAFETY: our end of the pipe; closing it lets the grandchild go.
            unsafe { libc::close(write_end) };
        }
    }
}

/// Starts the grandchild that holds `socket`; returns the pipe end whose closing ends it.
fn hold_in_background(socket: i32) -> Option<i32> {
    let mut pipe = [0; 2];
    // SAFETY: pipe2 and close on fds we own; the grandchild only reads and exits.
    unsafe {
        if libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        let read_end = pipe[0];
        // The socket's release, and its wait, happen in the grandchild once we closed ours.
        let started = crate::detached::in_grandchild(&[socket, read_end], || {
            let mut byte = 0u8;
            while libc::read(read_end, std::ptr::from_mut(&mut byte).cast(), 1) < 0 {}
        });
        libc::close(read_end);
        if !started {
            libc::close(pipe[1]);
            return None;
        }
        Some(pipe[1])
    }
}
