// SPDX-License-Identifier: Apache-2.0
//! Traffic control for the bandwidth plugin: a token bucket filter (TBF) as a link's root
//! qdisc, and the ingress qdisc whose u32 filter redirects every packet to an IFB device.
//!
//! netlink-packet-route knows the ingress qdisc, u32 and mirred but not TBF: its
//! parameters (`struct tc_tbf_qopt`) are encoded and decoded here. The kernel needs no rate
//! table for TBF since 3.x; like the reference, we send the parameters and, for rates of
//! 4 GiB/s and more, the 64-bit rate.

use std::io;

use netlink_packet_core::{DefaultNla, Nla, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcActionType, TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcMirror,
    TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::handle::Handle;
use super::socket::Result;

/// The handle of a TBF the plugin installs (`1:`), and of the ingress qdisc (`ffff:`).
pub const TBF_HANDLE: u32 = 0x0001_0000;
pub const INGRESS_HANDLE: u32 = 0xFFFF_0000;
pub const ROOT: u32 = 0xFFFF_FFFF;
pub const INGRESS_PARENT: u32 = 0xFFFF_FFF1;
/// The queue a TBF allows beyond its burst, as the reference sizes it.
pub const LATENCY_US: f64 = 25_000.0;
const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TC_RATESPEC_LEN: usize = 12;
const TC_TBF_QOPT_LEN: usize = 2 * TC_RATESPEC_LEN + 12;
const ETH_P_ALL: u16 = 0x0003;
const USEC_PER_SEC: f64 = 1_000_000.0;

/// A token bucket filter, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// The bucket, in scheduler ticks (the time `burst` bytes take at `rate`).
    pub buffer: u32,
    /// Bytes that may queue: the burst plus [`LATENCY_US`] at `rate`.
    pub limit: u32,
}

impl Tbf {
    /// The reference's shaping of `rate_bits` per second with a burst of `burst_bits`:
    /// whole bytes, the bucket in ticks of `tick_in_usec`, a 25 ms queue. None when the
    /// kernel could not take it: under a byte per second or a byte of burst, or a bucket
    /// or queue beyond 32 bits (the reference sends such numbers wrapped).
    #[must_use]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    pub fn shaping(rate_bits: u64, burst_bits: u64, tick_in_usec: f64) -> Option<Tbf> {
        let rate = rate_bits / 8;
        let burst = u32::try_from(burst_bits / 8).ok()?;
        if rate == 0 || burst == 0 {
            return None;
        }
        let burst_us = f64::from(burst) * USEC_PER_SEC / rate as f64;
        let buffer = (burst_us.trunc() * tick_in_usec).trunc();
        let queued = (rate as f64 * LATENCY_US / USEC_PER_SEC).trunc();
        let limit = queued + f64::from(burst);
        let max = f64::from(u32::MAX);
        if burst_us > max || buffer > max || limit > max {
            return None;
        }
        Some(Tbf {
            rate,
            buffer: buffer as u32,
            limit: limit as u32,
        })
    }

    fn encode(&self) -> Vec<TcOption> {
        let mut qopt = vec![0u8; TC_TBF_QOPT_LEN];
        // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, then the rate.
        let rate32 = u32::try_from(self.rate).unwrap_or(u32::MAX);
        qopt[8..12].copy_from_slice(&rate32.to_ne_bytes());
        // Then the peak rate (none), the limit, the buffer and the MTU (none).
        let tail = 2 * TC_RATESPEC_LEN;
        qopt[tail..tail + 4].copy_from_slice(&self.limit.to_ne_bytes());
        qopt[tail + 4..tail + 8].copy_from_slice(&self.buffer.to_ne_bytes());
        let mut options = vec![TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, qopt))];
        if self.rate > u64::from(u32::MAX) {
            options.push(TcOption::Other(DefaultNla::new(
                TCA_TBF_RATE64,
                self.rate.to_ne_bytes().to_vec(),
            )));
        }
        options
    }

    /// The parameters in a dumped TBF's options. The crate keeps the options of a kind it
    /// does not know as one attribute, TCA_OPTIONS itself, holding the nested ones.
    fn decode(options: &[TcOption]) -> Option<Tbf> {
        let mut tbf = None;
        let mut rate64 = None;
        for option in options {
            let TcOption::Other(nla) = option else {
                continue;
            };
            let mut outer = vec![0; Nla::value_len(nla)];
            Nla::emit_value(nla, &mut outer);
            let nested = if Nla::kind(nla) == TCA_OPTIONS {
                nested_attributes(&outer)
            } else {
                vec![(Nla::kind(nla), outer.as_slice())]
            };
            for (kind, bytes) in nested {
                let word = |at: usize| {
                    bytes
                        .get(at..at + 4)
                        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                };
                match kind {
                    TCA_TBF_PARMS if bytes.len() >= TC_TBF_QOPT_LEN => {
                        let tail = 2 * TC_RATESPEC_LEN;
                        tbf = Some(Tbf {
                            rate: u64::from(word(8)?),
                            limit: word(tail)?,
                            buffer: word(tail + 4)?,
                        });
                    }
                    TCA_TBF_RATE64 if bytes.len() == 8 => {
                        let mut raw = [0u8; 8];
                        raw.copy_from_slice(bytes);
                        rate64 = Some(u64::from_ne_bytes(raw));
                    }
                    _ => {}
                }
            }
        }
        tbf.map(|t| Tbf {
            rate: rate64.unwrap_or(t.rate),
            ..t
        })
    }
}

/// The (type, payload) of each netlink attribute in `bytes`; a truncated one ends the list.
fn nested_attributes(bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = usize::from(u16::from_ne_bytes([bytes[at], bytes[at + 1]]));
        let kind = u16::from_ne_bytes([bytes[at + 2], bytes[at + 3]]) & 0x3FFF;
        if len < 4 || at + len > bytes.len() {
            break;
        }
        out.push((kind, &bytes[at + 4..at + len]));
        at += (len + 3) & !3;
    }
    out
}

/// The scheduler's ticks per microsecond, from `/proc/net/psched` (as tc and the
/// reference compute it).
///
/// # Errors
/// The file cannot be read or does not hold four hex numbers.
#[allow(clippy::cast_precision_loss)]
pub fn tick_in_usec() -> io::Result<f64> {
    let text = std::fs::read_to_string("/proc/net/psched")?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/net/psched");
    let values = text
        .split_whitespace()
        .map(|word| u64::from_str_radix(word, 16).map_err(|_| bad()))
        .collect::<io::Result<Vec<u64>>>()?;
    let [mut t2us, us2t, clock_res, ..] = values[..] else {
        return Err(bad());
    };
    if us2t == 0 {
        return Err(bad());
    }
    if clock_res == 1_000_000_000 {
        t2us = us2t;
    }
    let clock_factor = clock_res as f64 / USEC_PER_SEC;
    Ok(t2us as f64 / us2t as f64 * clock_factor)
}

/// A qdisc as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub index: u32,
    pub kind: String,
    pub handle: u32,
    pub parent: u32,
    /// The parameters, for a TBF.
    pub tbf: Option<Tbf>,
}

/// Pure message builders (no I/O).
pub mod messages {
    use super::{
        RouteNetlinkMessage, Tbf, TcAction, TcActionAttribute, TcActionGeneric,
        TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute, TcFilterU32Option,
        TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption, TcU32Key, TcU32Selector,
        TcU32SelectorFlags, ETH_P_ALL, INGRESS_HANDLE, INGRESS_PARENT, ROOT, TBF_HANDLE,
    };

    fn header(index: u32, handle: u32, parent: u32) -> TcMessage {
        let mut msg = TcMessage::default();
        msg.header.index = i32::try_from(index).unwrap_or(i32::MAX);
        msg.header.handle = TcHandle::from(handle);
        msg.header.parent = TcHandle::from(parent);
        msg
    }

    /// `tc qdisc add dev <index> root handle 1: tbf ...`
    #[must_use]
    pub fn new_tbf(index: u32, tbf: &Tbf) -> RouteNetlinkMessage {
        let mut msg = header(index, TBF_HANDLE, ROOT);
        msg.attributes.push(TcAttribute::Kind("tbf".into()));
        msg.attributes.push(TcAttribute::Options(tbf.encode()));
        RouteNetlinkMessage::NewQueueDiscipline(msg)
    }

    /// `tc qdisc add dev <index> handle ffff: ingress`
    #[must_use]
    pub fn new_ingress(index: u32) -> RouteNetlinkMessage {
        let mut msg = header(index, INGRESS_HANDLE, INGRESS_PARENT);
        msg.attributes.push(TcAttribute::Kind("ingress".into()));
        RouteNetlinkMessage::NewQueueDiscipline(msg)
    }

    /// `tc filter add dev <index> parent ffff: protocol all prio 1 u32 match u32 0 0
    /// flowid 1:1 action mirred egress redirect dev <to>`: every packet arriving on the
    /// link leaves through `to`. (The reference adds a second, unreachable mirred action
    /// after this one; one is what the redirect needs.)
    #[must_use]
    pub fn new_redirect(index: u32, to: u32) -> RouteNetlinkMessage {
        let mut msg = header(index, 0, INGRESS_HANDLE);
        // tcm_info: the priority in the upper half, the protocol (network order) below.
        msg.header.info = (1 << 16) | u32::from(ETH_P_ALL.to_be());
        msg.attributes.push(TcAttribute::Kind("u32".into()));
        // The crate's structs are non-exhaustive: built from defaults, field by field.
        let mut selector = TcU32Selector::default();
        selector.flags = TcU32SelectorFlags::Terminal;
        selector.nkeys = 1;
        selector.keys = vec![TcU32Key::default()];
        let mut generic = TcActionGeneric::default();
        generic.action = TcActionType::Stolen;
        let mut mirred = TcMirror::default();
        mirred.generic = generic;
        mirred.eaction = TcMirrorActionType::EgressRedir;
        mirred.ifindex = to;
        let mut action = TcAction::default();
        action.tab = 1;
        action.attributes = vec![
            TcActionAttribute::Kind("mirred".into()),
            TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
                mirred,
            ))]),
        ];
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::ClassId(TcHandle::from(0x0001_0001))),
            TcOption::U32(TcFilterU32Option::Selector(selector)),
            TcOption::U32(TcFilterU32Option::Action(vec![action])),
        ]));
        RouteNetlinkMessage::NewTrafficFilter(msg)
    }

    /// Removes the qdisc under `parent` ([`ROOT`] or [`INGRESS_PARENT`]) of link `index`.
    #[must_use]
    pub fn del_qdisc(index: u32, parent: u32) -> RouteNetlinkMessage {
        RouteNetlinkMessage::DelQueueDiscipline(header(index, 0, parent))
    }

    #[must_use]
    pub fn dump_qdiscs() -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default())
    }

    #[must_use]
    pub fn dump_ingress_filters(index: u32) -> RouteNetlinkMessage {
        RouteNetlinkMessage::GetTrafficFilter(header(index, 0, INGRESS_HANDLE))
    }
}

fn parse_qdisc(msg: TcMessage) -> Qdisc {
    let mut kind = String::new();
    let mut options = Vec::new();
    for attr in msg.attributes {
        match attr {
            TcAttribute::Kind(k) => kind = k,
            TcAttribute::Options(o) => options = o,
            _ => {}
        }
    }
    Qdisc {
        index: u32::try_from(msg.header.index).unwrap_or(0),
        tbf: if kind == "tbf" {
            Tbf::decode(&options)
        } else {
            None
        },
        kind,
        handle: msg.header.handle.into(),
        parent: msg.header.parent.into(),
    }
}

fn mirred_targets(msg: &TcMessage) -> Vec<u32> {
    let mut out = Vec::new();
    for attr in &msg.attributes {
        let TcAttribute::Options(options) = attr else {
            continue;
        };
        for option in options {
            let TcOption::U32(TcFilterU32Option::Action(actions)) = option else {
                continue;
            };
            for action in actions {
                for attribute in &action.attributes {
                    let TcActionAttribute::Options(parts) = attribute else {
                        continue;
                    };
                    for part in parts {
                        if let TcActionOption::Mirror(TcActionMirrorOption::Parms(m)) = part {
                            out.push(m.ifindex);
                        }
                    }
                }
            }
        }
    }
    out
}

impl Handle {
    /// A TBF as the root qdisc of link `index`.
    ///
    /// # Errors
    /// [`super::NetlinkError`] (EEXIST when the link has a root qdisc of its own already).
    pub fn add_tbf(&mut self, index: u32, tbf: &Tbf) -> Result<()> {
        self.socket.request(
            messages::new_tbf(index, tbf),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add tbf qdisc on link {index}"),
        )
    }

    /// The ingress qdisc on link `index` and its filter redirecting everything to `to`;
    /// when the filter is refused, the qdisc goes again.
    ///
    /// # Errors
    /// [`super::NetlinkError`].
    pub fn add_ingress_redirect(&mut self, index: u32, to: u32) -> Result<()> {
        self.socket.request(
            messages::new_ingress(index),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add ingress qdisc on link {index}"),
        )?;
        let added = self.socket.request(
            messages::new_redirect(index, to),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add redirect filter on link {index}"),
        );
        if added.is_err() {
            let _ = self.del_qdisc(index, INGRESS_PARENT);
        }
        added
    }

    /// Removes the qdisc under `parent` of link `index`; one that is not there is no error.
    ///
    /// # Errors
    /// [`super::NetlinkError`] other than "no such qdisc" or "no such link".
    pub fn del_qdisc(&mut self, index: u32, parent: u32) -> Result<()> {
        match self.socket.request(
            messages::del_qdisc(index, parent),
            0,
            &format!("delete qdisc {parent:#x} of link {index}"),
        ) {
            // ENOENT: no such qdisc; EINVAL: the default root qdisc cannot be deleted;
            // ENODEV: the link is gone (with its qdiscs).
            Err(err) if matches!(err.errno, libc::ENOENT | libc::EINVAL | libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// The qdiscs of link `index`.
    ///
    /// # Errors
    /// [`super::NetlinkError`].
    pub fn qdiscs(&mut self, index: u32) -> Result<Vec<Qdisc>> {
        let answer = self
            .socket
            .dump(&messages::dump_qdiscs(), &format!("list qdiscs of {index}"))?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q) => Some(parse_qdisc(q)),
                _ => None,
            })
            .filter(|q| q.index == index)
            .collect())
    }

    /// The links the ingress filters of link `index` redirect to.
    ///
    /// # Errors
    /// [`super::NetlinkError`].
    pub fn redirect_targets(&mut self, index: u32) -> Result<Vec<u32>> {
        let answer = self.socket.dump(
            &messages::dump_ingress_filters(index),
            &format!("list ingress filters of {index}"),
        )?;
        Ok(answer
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewTrafficFilter(f) => Some(mirred_targets(f)),
                _ => None,
            })
            .flatten()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn shaping_matches_the_reference_arithmetic() {
        // 8 Mbit/s with an 800 kbit burst, at 15.625 ticks per microsecond (1000/64): the
        // numbers the reference's v1.1.1 installs here (tc shows burst 100000b, lat 25ms).
        let tbf = Tbf::shaping(8_000_000, 800_000, 15.625);
        assert_eq!(
            tbf,
            Some(Tbf {
                rate: 1_000_000,
                buffer: 1_562_500,
                limit: 125_000
            })
        );
        // Too slow, no burst, a bucket that takes hours to fill, a queue beyond 4 GiB.
        for (rate, burst) in [(7, 8_000), (8_000, 7), (8, 8_000_000), (u64::MAX, 8_000)] {
            assert_eq!(Tbf::shaping(rate, burst, 15.625), None, "{rate} {burst}");
        }
    }

    #[test]
    fn tbf_parameters_round_trip() {
        for rate in [1_000_000, u64::from(u32::MAX) + 10] {
            let tbf = Tbf {
                rate,
                buffer: 77,
                limit: 99,
            };
            assert_eq!(Tbf::decode(&tbf.encode()), Some(tbf));
            // As a dump arrives: the crate keeps TCA_OPTIONS whole, the parameters nested.
            let mut nested = Vec::new();
            for option in tbf.encode() {
                let mut attr = vec![0; option.buffer_len()];
                option.emit(&mut attr);
                nested.extend(attr);
            }
            let whole = TcOption::Other(DefaultNla::new(TCA_OPTIONS, nested));
            assert_eq!(Tbf::decode(&[whole]), Some(tbf));
        }
    }

    #[test]
    fn the_redirect_filter_matches_everything_at_priority_one() {
        let RouteNetlinkMessage::NewTrafficFilter(msg) = messages::new_redirect(5, 9) else {
            panic!("not a filter");
        };
        assert_eq!(msg.header.info >> 16, 1);
        assert_eq!(
            u16::from_be(u16::try_from(msg.header.info & 0xFFFF).unwrap()),
            ETH_P_ALL
        );
        assert_eq!(mirred_targets(&msg), vec![9]);
    }
}
