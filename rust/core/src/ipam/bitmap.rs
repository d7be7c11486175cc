// SPDX-License-Identifier: Apache-2.0
//! A sparse bitmap over `u128`: memory grows with the bits set, not with the universe.
//!
//! Bits live in 4096-bit leaves keyed by `value >> 12`; a leaf is dropped when its last bit
//! is cleared. Runs of consecutive full leaves are kept as intervals, so finding the next
//! clear bit skips any amount of full space in one lookup: at most one interval lookup and
//! two leaf scans, whatever the range size or fill level.

use std::collections::BTreeMap;

const LEAF_SHIFT: u32 = 12;
const LEAF_BITS: u32 = 1 << LEAF_SHIFT;
const WORDS: usize = (LEAF_BITS / 64) as usize;

#[derive(Clone, PartialEq, Eq, Debug)]
struct Leaf {
    words: [u64; WORDS],
    count: u32,
}

impl Leaf {
    /// Set bits in `lo..hi` (bit positions within the leaf).
    fn count_bits(&self, lo: u32, hi: u32) -> u128 {
        let mut total = 0;
        let mut at = lo;
        while at < hi {
            let (index, offset) = ((at / 64) as usize, at % 64);
            let span = (64 - offset).min(hi - at);
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1u64 << span) - 1) << offset
            };
            total += u128::from((self.words[index] & mask).count_ones());
            at += span;
        }
        total
    }

    fn new() -> Self {
        Leaf {
            words: [0; WORDS],
            count: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.count == LEAF_BITS
    }

    /// First clear bit at or after `bit` in this leaf.
    fn next_clear(&self, bit: u32) -> Option<u32> {
        let mut word = (bit / 64) as usize;
        // Treat bits below `bit` in the first word as set.
        let mut mask = !0u64 << (bit % 64);
        while word < WORDS {
            let clear = !self.words[word] & mask;
            if clear != 0 {
                return Some(u32::try_from(word).unwrap_or(0) * 64 + clear.trailing_zeros());
            }
            word += 1;
            mask = !0;
        }
        None
    }
}

/// A set of `u128` values, stored sparsely.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct SparseBitmap {
    leaves: BTreeMap<u128, Box<Leaf>>,
    /// Runs of full leaves: first leaf key -> last leaf key (inclusive).
    full: BTreeMap<u128, u128>,
    len: u128,
}

fn split(value: u128) -> (u128, u32) {
    (
        value >> LEAF_SHIFT,
        u32::try_from(value & u128::from(LEAF_BITS - 1)).unwrap_or(0),
    )
}

impl SparseBitmap {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many values are set.
    pub fn len(&self) -> u128 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, value: u128) -> bool {
        let (key, bit) = split(value);
        self.leaves
            .get(&key)
            .is_some_and(|leaf| leaf.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Sets `value`; returns false if it was already set.
    pub fn insert(&mut self, value: u128) -> bool {
        let (key, bit) = split(value);
        let leaf = self
            .leaves
            .entry(key)
            .or_insert_with(|| Box::new(Leaf::new()));
        let word = &mut leaf.words[(bit / 64) as usize];
        let mask = 1u64 << (bit % 64);
        if *word & mask != 0 {
            return false;
        }
        *word |= mask;
        leaf.count += 1;
        self.len += 1;
        if leaf.is_full() {
            self.mark_full(key);
        }
        true
    }

    /// Clears `value`; returns false if it was not set.
    pub fn remove(&mut self, value: u128) -> bool {
        let (key, bit) = split(value);
        let Some(leaf) = self.leaves.get_mut(&key) else {
            return false;
        };
        let mask = 1u64 << (bit % 64);
        let index = (bit / 64) as usize;
        if leaf.words[index] & mask == 0 {
            return false;
        }
        let was_full = leaf.is_full();
        leaf.words[index] &= !mask;
        leaf.count -= 1;
        let now_empty = leaf.count == 0;
        self.len -= 1;
        if was_full {
            self.unmark_full(key);
        }
        if now_empty {
            self.leaves.remove(&key);
        }
        true
    }

    fn run_containing(&self, key: u128) -> Option<(u128, u128)> {
        self.full
            .range(..=key)
            .next_back()
            .filter(|(_, &last)| last >= key)
            .map(|(&first, &last)| (first, last))
    }

    fn mark_full(&mut self, key: u128) {
        let mut first = key;
        let mut last = key;
        if key > 0 {
            if let Some((f, _)) = self.run_containing(key - 1) {
                self.full.remove(&f);
                first = f;
            }
        }
        if let Some(next) = key.checked_add(1) {
            if let Some(l) = self.full.remove(&next) {
                last = l;
            }
        }
        self.full.insert(first, last);
    }

    fn unmark_full(&mut self, key: u128) {
        let Some((first, last)) = self.run_containing(key) else {
            return;
        };
        self.full.remove(&first);
        if first < key {
            self.full.insert(first, key - 1);
        }
        if key < last {
            self.full.insert(key + 1, last);
        }
    }

    /// The first clear value in `from..=to`, if any.
    pub fn next_clear(&self, from: u128, to: u128) -> Option<u128> {
        let mut at = from;
        while at <= to {
            let (key, bit) = split(at);
            if let Some((_, last)) = self.run_containing(key) {
                at = last.checked_add(1)?.checked_shl(LEAF_SHIFT)?;
                continue;
            }
            let found = match self.leaves.get(&key) {
                None => Some(at),
                Some(leaf) => leaf
                    .next_clear(bit)
                    .map(|b| (key << LEAF_SHIFT) | u128::from(b)),
            };
            if let Some(value) = found {
                return (value <= to).then_some(value);
            }
            at = key.checked_add(1)?.checked_shl(LEAF_SHIFT)?;
        }
        None
    }

    /// How many values in `from..=to` are set. The leaves inside the range and those outside
    /// it are summed in turns, and whichever side runs out first gives the answer (the total
    /// less what lies outside, for the second): the cost is the smaller side's leaves. A pool
    /// whose range spans its family's every set value pays for its two end leaves, however
    /// large it is, and a family of several ranges pays for the smaller side, not for the
    /// other ranges' leaves each time.
    pub fn count_in(&self, from: u128, to: u128) -> u128 {
        if from > to {
            return 0;
        }
        let (first_key, first_bit) = split(from);
        let (last_key, last_bit) = split(to);
        let count = |leaf: &Leaf| u128::from(leaf.count);
        let mut inside = self
            .leaves
            .range(first_key..=last_key)
            .map(|(_, leaf)| count(leaf));
        let after = last_key.checked_add(1).map(|key| self.leaves.range(key..));
        let mut outside = self
            .leaves
            .range(..first_key)
            .chain(after.into_iter().flatten())
            .map(|(_, leaf)| count(leaf));
        // The end leaves' bits before `from` and after `to` lie outside the range, yet they are
        // summed with the leaves inside it: either answer takes them off.
        let mut beyond = 0;
        if let Some(leaf) = self.leaves.get(&first_key) {
            beyond += leaf.count_bits(0, first_bit);
        }
        if let Some(leaf) = self.leaves.get(&last_key) {
            beyond += leaf.count_bits(last_bit + 1, LEAF_BITS);
        }
        let (mut within, mut without) = (0, 0);
        loop {
            match inside.next() {
                Some(n) => within += n,
                None => return within - beyond,
            }
            match outside.next() {
                Some(n) => without += n,
                None => return self.len - without - beyond,
            }
        }
    }

    /// Set values in `from..=to`, ascending.
    pub fn iter_range(&self, from: u128, to: u128) -> impl Iterator<Item = u128> + '_ {
        let (first_key, _) = split(from);
        let (last_key, _) = split(to.max(from));
        self.leaves
            .range(first_key..=last_key)
            .flat_map(|(&key, leaf)| {
                leaf.words.iter().enumerate().flat_map(move |(w, &word)| {
                    let base = (key << LEAF_SHIFT) + (w as u128) * 64;
                    BitIter(word).map(move |b| base + u128::from(b))
                })
            })
            .filter(move |&v| v >= from && v <= to)
    }

    /// Every set value, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.iter_range(0, u128::MAX)
    }

    /// Serialises the set: per leaf, its key (16 bytes LE) and its words (512 bytes LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.leaves.len() * (16 + WORDS * 8));
        for (key, leaf) in &self.leaves {
            out.extend_from_slice(&key.to_le_bytes());
            for word in &leaf.words {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    /// Rebuilds a set from [`Self::to_bytes`]; None if the bytes are not such a dump.
    pub fn from_bytes(data: &[u8]) -> Option<Self> {
        let record = 16 + WORDS * 8;
        if data.len() % record != 0 {
            return None;
        }
        let mut out = Self::new();
        for chunk in data.chunks_exact(record) {
            let key = u128::from_le_bytes(chunk[..16].try_into().ok()?);
            let mut leaf = Leaf::new();
            for (i, word) in chunk[16..].chunks_exact(8).enumerate() {
                leaf.words[i] = u64::from_le_bytes(word.try_into().ok()?);
            }
            leaf.count = leaf.words.iter().map(|w| w.count_ones()).sum();
            if leaf.count == 0 || out.leaves.contains_key(&key) {
                return None;
            }
            out.len += u128::from(leaf.count);
            let full = leaf.is_full();
            out.leaves.insert(key, Box::new(leaf));
            if full {
                out.mark_full(key);
            }
        }
        Some(out)
    }
}

struct BitIter(u64);

impl Iterator for BitIter {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_contains_len() {
        let mut b = SparseBitmap::new();
        assert!(b.insert(5));
        assert!(!b.insert(5));
        assert!(b.insert(u128::MAX));
        assert!(b.contains(5) && b.contains(u128::MAX) && !b.contains(6));
        assert_eq!(b.len(), 2);
        assert!(b.remove(5));
        assert!(!b.remove(5));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![u128::MAX]);
    }

    #[test]
    fn next_clear_skips_full_runs_and_respects_bounds() {
        let mut b = SparseBitmap::new();
        for v in 0..3 * u128::from(LEAF_BITS) + 10 {
            b.insert(v);
        }
        assert_eq!(b.full.len(), 1);
        assert_eq!(b.next_clear(0, u128::MAX), Some(3 * 4096 + 10));
        assert_eq!(b.next_clear(0, 3 * 4096 + 9), None);
        b.remove(4096 + 7);
        assert_eq!(
            b.full.len(),
            2,
            "the run splits around the leaf that is no longer full"
        );
        assert_eq!(b.next_clear(0, u128::MAX), Some(4096 + 7));
        assert_eq!(b.next_clear(4096 + 8, u128::MAX), Some(3 * 4096 + 10));
        b.insert(4096 + 7);
        assert_eq!(b.full.len(), 1, "the runs merge again");
    }

    #[test]
    fn empty_leaves_are_dropped() {
        let mut b = SparseBitmap::new();
        b.insert(1 << 100);
        b.remove(1 << 100);
        assert!(b.leaves.is_empty());
        assert_eq!(b.next_clear(1 << 100, 1 << 100), Some(1 << 100));
    }

    #[test]
    fn counts_and_iterates_sub_ranges() {
        let mut b = SparseBitmap::new();
        for v in [1, 2, 100, 5000, 9000, 9001] {
            b.insert(v);
        }
        assert_eq!(b.count_in(2, 9000), 4);
        assert_eq!(b.count_in(0, u128::MAX), 6);
        assert_eq!(b.count_in(3, 99), 0);
        assert_eq!(b.count_in(100, 100), 1);
        assert_eq!(b.count_in(9001, 9001), 1);
        assert_eq!(b.count_in(4097, 9000), 2);
        assert_eq!(b.count_in(9002, u128::MAX), 0);
        let mut full = SparseBitmap::new();
        for v in 0..3 * 4096 + 70 {
            full.insert(v);
        }
        for (from, to) in [
            (0, 12357),
            (1, 12356),
            (63, 64),
            (64, 127),
            (4095, 8192),
            (5, 5),
        ] {
            assert_eq!(
                full.count_in(from, to),
                (to.min(3 * 4096 + 69) - from + 1),
                "{from}..={to}"
            );
        }
        assert_eq!(
            b.iter_range(3, 9000).collect::<Vec<_>>(),
            vec![100, 5000, 9000]
        );
    }

    #[test]
    fn counts_agree_with_iteration_whichever_side_is_smaller() {
        // Values over 40 leaves, in four clusters like the ranges of one family; the ranges
        // asked for cover a few leaves (the inside runs out first), most of them (the
        // outside does) and the edges of the universe.
        let mut b = SparseBitmap::new();
        let mut seed = 7u64;
        for cluster in [0u128, 1 << 20, 1 << 40, u128::MAX - (10 << 12)] {
            for _ in 0..3000 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                b.insert(cluster + u128::from(seed >> 40) % (10 << 12));
            }
        }
        let ranges = [
            (0, 0),
            (5, 9000),
            (4095, 4096),
            (1 << 20, (1 << 20) + 3 * 4096 + 17),
            (100, u128::MAX - 100),
            (1, 1 << 40),
            ((1 << 40) + 1, u128::MAX),
            (0, u128::MAX),
            (u128::MAX - 5, u128::MAX),
        ];
        for (from, to) in ranges {
            let counted = b.iter_range(from, to).count() as u128;
            assert_eq!(b.count_in(from, to), counted, "{from}..={to}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        let mut b = SparseBitmap::new();
        for v in (0..20_000).step_by(3).chain(0..8192) {
            b.insert(v);
        }
        b.insert(u128::MAX - 1);
        let back = SparseBitmap::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(back, b);
        assert!(SparseBitmap::from_bytes(&[1, 2, 3]).is_none());
    }
}
