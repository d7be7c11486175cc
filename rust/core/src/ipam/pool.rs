// SPDX-License-Identifier: Apache-2.0
//! The addresses in use on a network, both families, stored sparsely.

use super::bitmap::SparseBitmap;
use crate::net::{Addr, Family};

const MAGIC: &[u8; 8] = b"CNIPOOL1";

/// Used addresses: one sparse bitmap per family.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Pool {
    v4: SparseBitmap,
    v6: SparseBitmap,
}

impl Pool {
    pub fn bitmap(&self, family: Family) -> &SparseBitmap {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn bitmap_mut(&mut self, v6: bool) -> &mut SparseBitmap {
        if v6 {
            &mut self.v6
        } else {
            &mut self.v4
        }
    }

    pub fn contains(&self, addr: Addr) -> bool {
        self.bitmap(addr.family()).contains(addr.value)
    }

    /// Marks `addr` used; false if it already was.
    pub fn insert(&mut self, addr: Addr) -> bool {
        self.bitmap_mut(addr.v6).insert(addr.value)
    }

    /// Marks `addr` free; false if it already was.
    pub fn remove(&mut self, addr: Addr) -> bool {
        self.bitmap_mut(addr.v6).remove(addr.value)
    }

    pub fn len(&self) -> u128 {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// IPv4 addresses, then IPv6, each ascending.
    pub fn iter(&self) -> impl Iterator<Item = Addr> + '_ {
        let v4 = self.v4.iter().map(|value| Addr { v6: false, value });
        let v6 = self.v6.iter().map(|value| Addr { v6: true, value });
        v4.chain(v6)
    }

    /// A compact dump: magic, the IPv4 bitmap's length (u64 LE), the two bitmaps.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v4 = self.v4.to_bytes();
        let v6 = self.v6.to_bytes();
        let mut out = Vec::with_capacity(16 + v4.len() + v6.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(v4.len() as u64).to_le_bytes());
        out.extend_from_slice(&v4);
        out.extend_from_slice(&v6);
        out
    }

    /// Rebuilds a pool from [`Self::to_bytes`]; None when the bytes are not one.
    pub fn from_bytes(data: &[u8]) -> Option<Pool> {
        let rest = data.strip_prefix(MAGIC.as_slice())?;
        let (len, rest) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (v4, v6) = rest.split_at_checked(len)?;
        Some(Pool {
            v4: SparseBitmap::from_bytes(v4)?,
            v6: SparseBitmap::from_bytes(v6)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_separate_and_round_trip() {
        let mut pool = Pool::default();
        let a = Addr::parse("10.0.0.5").unwrap();
        let b = Addr::parse("::a00:5").unwrap();
        assert!(pool.insert(a));
        assert!(pool.insert(b));
        assert!(!pool.insert(a));
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.iter().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(Pool::from_bytes(&pool.to_bytes()), Some(pool.clone()));
        assert!(Pool::from_bytes(b"CNIPOOL1\xff").is_none());
        assert!(Pool::from_bytes(b"garbage").is_none());
        assert!(pool.remove(a));
        assert!(!pool.contains(a));
    }
}
