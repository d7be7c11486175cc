// SPDX-License-Identifier: Apache-2.0
//! The pages of its memory a process holds alone, and their copy-on-write faults taken in
//! advance.
//!
//! A warm-path worker is forked from the agent's pool process and shares every page with it
//! until it writes one; each first write then costs a fault and a page copy (3 µs a page
//! on the 2-CPU test VM, ~300 pages for a VERSION, more for an ADD: most of what a request
//! costs in the worker). A worker that has served reports the pages it wrote ([`written`]:
//! the present pages of its private writable mappings that no other process maps any more,
//! `/proc/self/pagemap` bit 56); an idle worker takes the faults of the pages earlier
//! requests wrote ([`populate`], `MADV_POPULATE_WRITE`) before its own request arrives,
//! where they cost a third less and nothing of the request's time.
//!
//! A list of pages is a list of [`Run`]s, sorted and disjoint; [`encode`] and [`decode`]
//! carry it between processes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A start address and a length in bytes, both multiples of the page size.
pub type Run = (usize, usize);

const PRESENT: u64 = 1 << 63;
const EXCLUSIVE: u64 = 1 << 56;

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

fn word(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_le_bytes)
}

/// The mappings of `/proc/PID/maps` text worth scanning: private and writable (anonymous
/// memory, the heap, libraries' data), not the stack or the kernel's special mappings.
pub fn writable_private(maps: &str) -> Vec<Run> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("");
        if !perms.starts_with("rw") || perms.as_bytes().get(3) != Some(&b'p') {
            continue;
        }
        if name.starts_with('[') && name != "[heap]" {
            continue;
        }
        let Some((lo, hi)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
            if hi > lo {
                out.push((lo, hi - lo));
            }
        }
    }
    out
}

/// The pages of this process that it alone maps, as runs.
///
/// # Errors
/// `/proc/self/maps` or `/proc/self/pagemap` cannot be read.
pub fn written() -> io::Result<Vec<Run>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let pagemap = File::open("/proc/self/pagemap")?;
    let page = page_size();
    let mut runs = Vec::new();
    let mut entries = Vec::new();
    for (start, len) in writable_private(&maps) {
        entries.resize(len / page * 8, 0);
        let read = pagemap.read_at(&mut entries, (start / page * 8) as u64)?;
        let mut open: Option<usize> = None;
        for (i, entry) in entries[..read - read % 8].chunks_exact(8).enumerate() {
            let entry = word(entry);
            let address = start + i * page;
            let alone = entry & PRESENT != 0 && entry & EXCLUSIVE != 0;
            match (alone, open) {
                (true, None) => open = Some(address),
                (false, Some(from)) => {
                    runs.push((from, address - from));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(from) = open {
            runs.push((from, start + read / 8 * page - from));
        }
    }
    Ok(runs)
}

/// The union of lists of runs, sorted, with touching runs joined.
pub fn union(lists: &[Vec<Run>]) -> Vec<Run> {
    let mut all: Vec<Run> = lists.iter().flatten().copied().collect();
    all.sort_unstable();
    let mut out: Vec<Run> = Vec::with_capacity(all.len());
    for (start, len) in all {
        match out.last_mut() {
            Some((last, last_len)) if start <= *last + *last_len => {
                *last_len = (*last_len).max(start + len - *last);
            }
            _ => out.push((start, len)),
        }
    }
    out
}

/// Writes (in the kernel's sense: takes the write faults of) every page of `runs`, leaving
/// their contents as they are; returns how many pages that was. A run that is no longer
/// mapped writable in this process (memory given back since it was learned) is skipped.
pub fn populate(runs: &[Run]) -> usize {
    let mut pages = 0;
    for &(start, len) in runs {
        // SAFETY: MADV_POPULATE_WRITE faults pages in as a write would, without changing a
        // byte; on a range that is not mapped writable it fails and does nothing.
        let ok =
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) }
                == 0;
        if ok {
            pages += len / page_size();
        }
    }
    pages
}

/// Runs as bytes: each a little-endian start and length.
pub fn encode(runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::with_capacity(runs.len() * 16);
    for &(start, len) in runs {
        out.extend_from_slice(&(start as u64).to_le_bytes());
        out.extend_from_slice(&(len as u64).to_le_bytes());
    }
    out
}

/// Bytes [`encode`] made back into runs; None when their length is not a whole number of
/// runs or a number does not fit an address.
pub fn decode(bytes: &[u8]) -> Option<Vec<Run>> {
    if bytes.len() % 16 != 0 {
        return None;
    }
    let number = |b: &[u8]| usize::try_from(word(b)).ok();
    bytes
        .chunks_exact(16)
        .map(|run| Some((number(&run[..8])?, number(&run[8..])?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_writable_mappings_are_scanned() {
        let maps = "\
00400000-00401000 r-xp 00000000 08:01 1 /usr/bin/python3.11
00600000-00602000 rw-p 00001000 08:01 1 /usr/bin/python3.11
01000000-01100000 rw-p 00000000 00:00 0                                  [heap]
7f0000000000-7f0000010000 rw-p 00000000 00:00 0
7f0000010000-7f0000020000 rw-s 00000000 00:01 5 /dev/zero (deleted)
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
7ffc00100000-7ffc00102000 r--p 00000000 00:00 0                          [vvar]
";
        assert_eq!(
            writable_private(maps),
            vec![
                (0x0060_0000, 0x2000),
                (0x0100_0000, 0x0010_0000),
                (0x7f00_0000_0000, 0x10000)
            ]
        );
    }

    #[test]
    fn union_sorts_and_joins_touching_and_overlapping_runs() {
        let a = vec![(0x1000, 0x1000), (0x5000, 0x2000)];
        let b = vec![(0x2000, 0x1000), (0x6000, 0x3000), (0x20000, 0x1000)];
        assert_eq!(
            union(&[a, b]),
            vec![(0x1000, 0x2000), (0x5000, 0x4000), (0x20000, 0x1000)]
        );
        assert_eq!(union(&[]), vec![]);
    }

    #[test]
    fn runs_survive_bytes() {
        let runs = vec![(0x7f00_0000_1000, 0x3000), (0x1000, 0x1000)];
        assert_eq!(decode(&encode(&runs)), Some(runs));
        assert_eq!(decode(&[0; 15]), None);
    }

    #[test]
    fn a_page_written_here_is_ours_alone_and_populating_it_keeps_its_contents() {
        let page = page_size();
        let mut memory = vec![0u8; page * 8];
        let start = (memory.as_ptr() as usize).div_ceil(page) * page;
        let offset = start - memory.as_ptr() as usize;
        memory[offset] = 7;
        let ours = written().expect("pagemap");
        assert!(
            ours.iter().any(|&(s, l)| s <= start && start < s + l),
            "{start:#x} not in {ours:x?}"
        );
        assert_eq!(populate(&[(start, page)]), 1);
        assert_eq!(memory[offset], 7);
        assert_eq!(populate(&[(page, page)]), 0, "page 1 is never mapped");
    }
}
