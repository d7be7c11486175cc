// SPDX-License-Identifier: Apache-2.0
//! The transactions of an attachment's life, on a table whose fixed part (its skeleton) is
//! created once: ADD (creating the skeleton when the table is missing, taking over
//! elements another attachment holds), DEL (only what still points at the attachment,
//! tolerating what is already gone) and CHECK.

use super::batch::{Batch, Element, Op};
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
    (set.to_owned(), e.key_only())
}

/// ADD: `build(replace)` makes the attachment's batch; the `skeletons` (the table, then
/// sets created on demand) are sent first when something they make is missing, each
/// created at most once by anyone (EEXIST: another process made it). An element another
/// attachment holds (EEXIST) is replaced.
///
/// # Errors
/// The first operation the kernel refused, named.
pub fn add(
    sock: &mut NftSocket,
    skeletons: &[Batch],
    build: impl Fn(&[Held]) -> Batch,
) -> Result<(), NetlinkError> {
    let mut replace: Vec<Held> = Vec::new();
    let mut made_skeletons = false;
    // At most: the skeletons, one round of takeovers, and a last try.
    for _ in 0..4 {
        let batch = build(&replace);
        let r = match sock.apply(&batch) {
            Ok(()) => return Ok(()),
            Err(Err(e)) => return Err(e),
            Err(Ok(r)) => r,
        };
        let missing = r.failures.iter().any(|(_, errno)| *errno == libc::ENOENT);
        if missing && !made_skeletons {
            made_skeletons = true;
            for skeleton in skeletons {
                match sock.apply(skeleton) {
                    // EEXIST on the table or set: it is there already, with all its batch made.
                    Ok(()) => {}
                    Err(Ok(s)) if s.failures.iter().all(|(_, e)| *e == libc::EEXIST) => {}
                    Err(Ok(s)) => return Err(refused(skeleton, &s)),
                    Err(Err(e)) => return Err(e),
                }
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
    let batch = build(&replace);
    Err(NetlinkError::new(
        &format!("ADD on {} {}", batch.family.name(), batch.table),
        libc::EAGAIN,
    ))
}

/// The elements of `owned` that are still the attachment's: present, with its comment.
///
/// # Errors
/// When the elements cannot be read.
pub fn still_held(
    sock: &mut NftSocket,
    family: super::Family,
    table: &str,
    owned: &[(String, Element)],
) -> Result<Vec<Held>, NetlinkError> {
    let mut held = Vec::new();
    let mut sets: Vec<&str> = owned.iter().map(|(s, _)| s.as_str()).collect();
    sets.sort_unstable();
    sets.dedup();
    for set in sets {
        let elems: Vec<Element> = owned
            .iter()
            .filter(|(s, _)| s == set)
            .map(|(_, e)| e.clone())
            .collect();
        let found = sock.comments(family, table, set, &elems)?;
        for (e, comment) in elems.iter().zip(found) {
            if comment.is_some() && comment == e.comment {
                held.push(key_only(set, e));
            }
        }
    }
    Ok(held)
}

/// Sends `batch`, dropping any operation the kernel finds gone (ENOENT: removed
/// meanwhile) until the rest applies.
///
/// # Errors
/// The first refusal that is not ENOENT.
pub fn remove(sock: &mut NftSocket, mut batch: Batch) -> Result<(), NetlinkError> {
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

/// What CHECK finds wrong: elements missing or held by another attachment.
///
/// # Errors
/// When the elements cannot be read.
pub fn missing(
    sock: &mut NftSocket,
    family: super::Family,
    table: &str,
    owned: &[(String, Element)],
) -> Result<Vec<String>, NetlinkError> {
    let held = still_held(sock, family, table, owned)?;
    Ok(owned
        .iter()
        .filter(|(s, e)| !held.iter().any(|(hs, he)| hs == s && he.key == e.key))
        .map(|(s, e)| {
            format!(
                "element {} of {} {table} {s}",
                describe_key(e),
                family.name()
            )
        })
        .collect())
}

fn describe_key(e: &Element) -> String {
    Op::AddElement(String::new(), e.key_only())
        .describe(super::Family::Ip, "")
        .rsplit_once("{ ")
        .map_or_else(String::new, |(_, k)| k.trim_end_matches(" }").to_owned())
}
