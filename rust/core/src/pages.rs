// SPDX-License-Identifier: Apache-2.0
//! The pages of its memory a process has touched since it was forked, and their faults
//! taken in advance.
//!
//! A warm-path worker is forked from the agent's pool process and shares every page with it.
//! Each first write of a private page then costs a fault and a page copy (3 µs a page on
//! the 2-CPU test VM, ~300 pages for a VERSION, more for an ADD), and each first read of a
//! file-backed page (the interpreter's and the extension's code, read-only data) a fault
//! too, since fork copies no page table entries for those mappings: together most of what a
//! request costs in the worker (a bridge ADD runs 8.5 ms cold, 6.3 ms with the code mapped).
//! A worker that has served reports the pages it touched ([`touched`]: in private writable
//! mappings the present pages no other process maps any more, `/proc/self/pagemap` bit 56;
//! in read-only file mappings the present ones); an idle worker takes those faults before
//! its own request arrives ([`populate`]: `MADV_POPULATE_WRITE` or `MADV_POPULATE_READ`,
//! by the mapping a page is in), where they cost nothing of the request's time.
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

/// How a mapping's pages are taken in advance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Private and writable (anonymous memory, the heap, libraries' data): written.
    Written,
    /// Private, read-only and backed by a file (code, read-only data): read.
    Read,
}

/// A mapping worth scanning: start, length and kind.
pub type Mapping = (usize, usize, Kind);

/// The mappings of `/proc/PID/maps` text worth scanning, in address order: not shared ones,
/// the stack or the kernel's special mappings.
pub fn mappings(maps: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("");
        let perms = perms.as_bytes();
        if perms.get(3) != Some(&b'p') || perms.first() != Some(&b'r') {
            continue;
        }
        let kind = if perms.get(1) == Some(&b'w') {
            if name.starts_with('[') && name != "[heap]" {
                continue;
            }
            Kind::Written
        } else if name.starts_with('/') {
            Kind::Read
        } else {
            continue;
        };
        let Some((lo, hi)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
            if hi > lo {
                out.push((lo, hi - lo, kind));
            }
        }
    }
    out
}

/// The pages this process has touched since its fork, as runs: those of private writable
/// mappings it alone maps, and those of read-only file mappings it maps.
///
/// # Errors
/// `/proc/self/maps` or `/proc/self/pagemap` cannot be read.
pub fn touched() -> io::Result<Vec<Run>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let pagemap = File::open("/proc/self/pagemap")?;
    let page = page_size();
    let mut runs = Vec::new();
    let mut entries = Vec::new();
    for (start, len, kind) in mappings(&maps) {
        entries.resize(len / page * 8, 0);
        let read = pagemap.read_at(&mut entries, (start / page * 8) as u64)?;
        let mut open: Option<usize> = None;
        for (i, entry) in entries[..read - read % 8].chunks_exact(8).enumerate() {
            let entry = word(entry);
            let address = start + i * page;
            let ours = entry & PRESENT != 0 && (kind == Kind::Read || entry & EXCLUSIVE != 0);
            match (ours, open) {
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

/// Calls `each` with every part of `runs` that lies in one mapping of `maps` worth
/// scanning, and that mapping's kind.
fn each_part(runs: &[Run], maps: &[Mapping], mut each: impl FnMut(usize, usize, Kind)) {
    let mut maps = maps.iter().peekable();
    for &(start, len) in runs {
        let end = start + len;
        while let Some(&&(lo, size, kind)) = maps.peek() {
            if lo + size <= start {
                maps.next();
                continue;
            }
            if lo >= end {
                break;
            }
            each(start.max(lo), end.min(lo + size), kind);
            if lo + size > end {
                break; // the next run may start in this mapping too
            }
            maps.next();
        }
    }
}

/// The bytes of `runs` in this process's private writable mappings, and in its read-only
/// file mappings.
///
/// # Errors
/// `/proc/self/maps` cannot be read.
pub fn sizes(runs: &[Run]) -> io::Result<(usize, usize)> {
    let maps = mappings(&std::fs::read_to_string("/proc/self/maps")?);
    let (mut written, mut read) = (0, 0);
    each_part(runs, &maps, |from, to, kind| match kind {
        Kind::Written => written += to - from,
        Kind::Read => read += to - from,
    });
    Ok((written, read))
}

/// Takes the faults of every page of `runs` now, leaving their contents as they are: a
/// write fault in a private writable mapping, a read fault in a read-only file mapping (the
/// mapping it is in now decides: runs joined across two mappings are split again). Returns
/// how many pages that was; pages no longer mapped so (memory given back since they were
/// learned) are skipped.
pub fn populate(runs: &[Run]) -> usize {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let mut pages = 0;
    each_part(runs, &mappings(&maps), |from, to, kind| {
        let advice = match kind {
            Kind::Written => libc::MADV_POPULATE_WRITE,
            Kind::Read => libc::MADV_POPULATE_READ,
        };
        // SAFETY: MADV_POPULATE_* fault pages in as a write or a read would, without
        // changing a byte; on a range mapped otherwise it fails and does nothing.
        if unsafe { libc::madvise(from as *mut libc::c_void, to - from, advice) } == 0 {
            pages += (to - from) / page_size();
        }
    });
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
    fn private_writable_and_read_only_file_mappings_are_scanned() {
        let maps = "\
00400000-00401000 r-xp 00000000 08:01 1 /usr/bin/python3.11
00600000-00602000 rw-p 00001000 08:01 1 /usr/bin/python3.11
01000000-01100000 rw-p 00000000 00:00 0                                  [heap]
7f0000000000-7f0000010000 rw-p 00000000 00:00 0
7f0000010000-7f0000020000 rw-s 00000000 00:01 5 /dev/zero (deleted)
7f0000020000-7f0000030000 r--s 00000000 00:01 6 /memfd:x (deleted)
7f0000030000-7f0000040000 ---p 00000000 08:01 1 /usr/lib/libc.so.6
7f0000040000-7f0000050000 r--p 00000000 00:00 0
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
7ffc00100000-7ffc00102000 r--p 00000000 00:00 0                          [vvar]
";
        assert_eq!(
            mappings(maps),
            vec![
                (0x0040_0000, 0x1000, Kind::Read),
                (0x0060_0000, 0x2000, Kind::Written),
                (0x0100_0000, 0x0010_0000, Kind::Written),
                (0x7f00_0000_0000, 0x10000, Kind::Written)
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
        let ours = touched().expect("pagemap");
        assert!(
            ours.iter().any(|&(s, l)| s <= start && start < s + l),
            "{start:#x} not in {ours:x?}"
        );
        assert_eq!(populate(&[(start, page)]), 1);
        assert_eq!(memory[offset], 7);
        assert_eq!(populate(&[(page, page)]), 0, "page 1 is never mapped");
    }

    #[test]
    fn a_file_page_is_touched_once_read_and_populating_maps_it() {
        use std::os::fd::AsRawFd;

        let page = page_size();
        let path = std::env::temp_dir().join(format!("cni-pages-{}", std::process::id()));
        std::fs::write(&path, vec![5u8; page * 4]).expect("write");
        let file = File::open(&path).expect("open");
        std::fs::remove_file(&path).expect("remove");
        // SAFETY: a fresh private read-only mapping of a file we hold; unmapped below.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page * 4,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(at, libc::MAP_FAILED);
        let start = at as usize;
        let has = |runs: &[Run], address: usize| {
            runs.iter().any(|&(s, l)| s <= address && address < s + l)
        };
        assert!(!has(&touched().expect("pagemap"), start + 2 * page));
        // SAFETY: reading a mapped page.
        assert_eq!(
            unsafe { std::ptr::read_volatile((start + page) as *const u8) },
            5
        );
        assert!(has(&touched().expect("pagemap"), start + page));
        let both = [(start + 2 * page, page), (start + 3 * page, page)];
        assert_eq!(populate(&both), 2);
        assert!(has(&touched().expect("pagemap"), start + 3 * page));
        let heap = vec![1u8; page * 3];
        let private = (heap.as_ptr() as usize).div_ceil(page) * page;
        let mut runs = vec![(start, page * 4), (private, page)];
        runs.sort_unstable(); // runs are sorted, as union and touched make them
        assert_eq!(sizes(&runs).expect("maps"), (page, page * 4));
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(at, page * 4) };
    }
}
