// SPDX-License-Identifier: Apache-2.0
//! The transactions of an attachment's life, on a table whose fixed part (its skeleton) is
//! created once: ADD (creating the skeleton when the table is missing, taking over
//! elements another attachment holds), DEL (only what still points at the attachment,
//! tolerating what is already gone) and CHECK.

use super::batch::{Batch, Element, Op};
use super::expr::Verdict;
use super::socket::{NftSocket, Refused};
use crate::netlink::NetlinkError;

/// An element of a named set, as the flows pass them around.
pub type Held = (String, Element);

fn refused(batch: &Batch, r: &Refused) -> NetlinkError {
    let (index, errno) = r.failures[0];
    let what = batch.ops.get(index).map_or_else(
        || {
            format!(
                "nf_tables transaction on {} {}",
                batch.family.name(),
                batch.table
            )
        },
        |op| op.describe(batch.family, &batch.table),
    );
    NetlinkError::new(&what, errno)
}

fn key_only(set: &str, e: &Element) -> Held {
    (
        set.to_owned(),
        Element {
            key: e.key.clone(),
            verdict: None,
        },
    )
}

/// ADD: `build(replace)` makes the attachment's batch; `skeleton` is sent first when the
/// table does not exist yet. An element another attachment holds (EEXIST) is replaced.
///
/// # Errors
/// The first operation the kernel refused, named.
pub fn add(
    sock: &mut NftSocket,
    skeleton: &Batch,
    build: impl Fn(&[Held]) -> Batch,
) -> Result<(), NetlinkError> {
    let mut replace: Vec<Held> = Vec::new();
    let mut made_skeleton = false;
    // At most: the skeleton, one round of takeovers, and a last try.
    for _ in 0..4 {
        let batch = build(&replace);
        let r = match sock.apply(&batch) {
            Ok(()) => return Ok(()),
            Err(Err(e)) => return Err(e),
            Err(Ok(r)) => r,
        };
        let missing_table = r.failures.iter().any(|(_, errno)| *errno == libc::ENOENT);
        if missing_table && !made_skeleton {
            made_skeleton = true;
            match sock.apply(skeleton) {
                // EEXIST on the table: another process made it meanwhile.
                Ok(()) => {}
                Err(Ok(s)) if s.failures.iter().all(|(_, e)| *e == libc::EEXIST) => {}
                Err(Ok(s)) => return Err(refused(skeleton, &s)),
                Err(Err(e)) => return Err(e),
            }
            continue;
        }
        let taken: Vec<Held> = r
            .failures
            .iter()
            .filter(|(_, errno)| *errno == libc::EEXIST)
            .filter_map(|(i, _)| match batch.ops.get(*i) {
                Some(Op::AddElement(set, e)) => Some(key_only(set, e)),
                _ => None,
            })
            .collect();
        if taken.is_empty() || taken.len() < r.failures.len() {
            return Err(refused(&batch, &r));
        }
        replace.extend(taken);
    }
    Err(NetlinkError::new(
        &format!("ADD on {} {}", skeleton.family.name(), skeleton.table),
        libc::EAGAIN,
    ))
}

/// The elements of `owned` whose verdict is still the one the attachment set.
///
/// # Errors
/// When the elements cannot be read.
pub fn still_held(
    sock: &mut NftSocket,
    batch_family: super::Family,
    table: &str,
    owned: &[(&str, Element)],
) -> Result<Vec<Held>, NetlinkError> {
    let mut held = Vec::new();
    let mut sets: Vec<&str> = owned.iter().map(|(s, _)| *s).collect();
    sets.sort_unstable();
    sets.dedup();
    for set in sets {
        let elems: Vec<Element> = owned
            .iter()
            .filter(|(s, _)| *s == set)
            .map(|(_, e)| e.clone())
            .collect();
        let found = sock.verdicts(batch_family, table, set, &elems)?;
        for (e, verdict) in elems.iter().zip(found) {
            if verdict.is_some() && verdict == e.verdict {
                held.push(key_only(set, e));
            }
        }
    }
    Ok(held)
}

/// Sends `batch` without the operations on chains that do not exist, and then drops any
/// operation the kernel still finds gone (ENOENT: removed meanwhile) until the rest applies.
/// Looking first keeps the usual DEL to one transaction: a refused one costs the kernel an
/// abort, which waits for an RCU grace period.
///
/// # Errors
/// The first refusal that is not ENOENT.
pub fn remove(sock: &mut NftSocket, mut batch: Batch) -> Result<(), NetlinkError> {
    let chains: Vec<&str> = batch
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::FlushChain(c) | Op::DeleteChain(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    let exist = sock.chains_exist(batch.family, &batch.table, &chains)?;
    let missing: Vec<String> = chains
        .iter()
        .zip(exist)
        .filter(|(_, e)| !e)
        .map(|(c, _)| (*c).to_owned())
        .collect();
    batch
        .ops
        .retain(|op| !matches!(op, Op::FlushChain(c) | Op::DeleteChain(c) if missing.contains(c)));
    while !batch.ops.is_empty() {
        let r = match sock.apply(&batch) {
            Ok(()) => return Ok(()),
            Err(Err(e)) => return Err(e),
            Err(Ok(r)) => r,
        };
        if r.failures.iter().any(|(_, errno)| *errno != libc::ENOENT) {
            let first = Refused {
                failures: r
                    .failures
                    .iter()
                    .filter(|(_, e)| *e != libc::ENOENT)
                    .copied()
                    .collect(),
            };
            return Err(refused(&batch, &first));
        }
        let gone: Vec<usize> = r.failures.iter().map(|(i, _)| *i).collect();
        batch.ops = batch
            .ops
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(i))
            .map(|(_, op)| op)
            .collect();
    }
    Ok(())
}

/// What CHECK finds wrong: elements missing or pointing elsewhere.
///
/// # Errors
/// When the elements cannot be read.
pub fn missing(
    sock: &mut NftSocket,
    family: super::Family,
    table: &str,
    owned: &[(&str, Element)],
) -> Result<Vec<String>, NetlinkError> {
    let held = still_held(sock, family, table, owned)?;
    Ok(owned
        .iter()
        .filter(|(s, e)| !held.iter().any(|(hs, he)| hs == s && he.key == e.key))
        .map(|(s, e)| {
            let target = match &e.verdict {
                Some(Verdict::Jump(c)) => c.as_str(),
                _ => "",
            };
            format!(
                "element {} of {} {table} {s} (to {target})",
                describe_key(e),
                family.name()
            )
        })
        .collect())
}

fn describe_key(e: &Element) -> String {
    Op::AddElement(
        String::new(),
        Element {
            key: e.key.clone(),
            verdict: None,
        },
    )
    .describe(super::Family::Ip, "")
    .rsplit_once("{ ")
    .map_or_else(String::new, |(_, k)| k.trim_end_matches(" }").to_owned())
}
