// SPDX-License-Identifier: Apache-2.0
//! One range set, its used addresses and its round-robin cursor: the allocator that
//! Python code uses directly (`cni.ipam.IPAllocator`).

use super::pool::Pool;
use super::range::{RangeError, RangeSet};
use crate::net::Addr;

/// Why an allocator operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// No address left in the set.
    Exhausted(String),
    /// The address is already in use.
    InUse(Addr),
    /// The address cannot be given out by this set (outside it, the gateway, wrong family).
    Range(RangeError),
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exhausted(set) => write!(f, "no IP addresses available in range set {set}"),
            Self::InUse(addr) => write!(f, "IP address {addr} is already in use"),
            Self::Range(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for AllocError {}

/// Allocation over one range set.
#[derive(Clone, Debug)]
pub struct Allocator {
    pub set: RangeSet,
    pub pool: Pool,
    pub last: Option<Addr>,
}

impl Allocator {
    pub fn new(set: RangeSet) -> Self {
        Allocator {
            set,
            pool: Pool::default(),
            last: None,
        }
    }

    /// The next free address after the last one reserved (host-local's order).
    ///
    /// # Errors
    /// [`AllocError::Exhausted`] when the set has no free address.
    pub fn allocate(&mut self) -> Result<Addr, AllocError> {
        let (_, addr) = self
            .set
            .next_free(&self.pool, self.last)
            .ok_or_else(|| AllocError::Exhausted(self.set.to_string()))?;
        self.pool.insert(addr);
        self.last = Some(addr);
        Ok(addr)
    }

    /// Reserves a given address.
    ///
    /// # Errors
    /// [`AllocError::Range`] when the set cannot give it out, [`AllocError::InUse`] when taken.
    pub fn reserve(&mut self, addr: Addr) -> Result<(), AllocError> {
        self.set.check_request(addr).map_err(AllocError::Range)?;
        if !self.pool.insert(addr) {
            return Err(AllocError::InUse(addr));
        }
        self.last = Some(addr);
        Ok(())
    }

    /// Frees `addr`; false if it was not in use.
    pub fn release(&mut self, addr: Addr) -> bool {
        self.pool.remove(addr)
    }

    /// Addresses still available.
    pub fn free(&self) -> u128 {
        self.set.free(&self.pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::range::Range;

    #[test]
    fn allocate_reserve_release() {
        let set = RangeSet::new(vec![
            Range::new("10.0.0.0/29", None, None, None, true).unwrap()
        ])
        .unwrap();
        let mut a = Allocator::new(set);
        assert_eq!(a.allocate().unwrap().to_string(), "10.0.0.2");
        a.reserve(Addr::parse("10.0.0.5").unwrap()).unwrap();
        assert_eq!(
            a.allocate().unwrap().to_string(),
            "10.0.0.6",
            "round-robin after the last reserved"
        );
        assert_eq!(
            a.reserve(Addr::parse("10.0.0.5").unwrap()),
            Err(AllocError::InUse(Addr::parse("10.0.0.5").unwrap()))
        );
        assert!(matches!(
            a.reserve(Addr::parse("10.0.0.1").unwrap()),
            Err(AllocError::Range(_))
        ));
        assert_eq!(a.free(), 2);
        a.allocate().unwrap();
        a.allocate().unwrap();
        assert!(matches!(a.allocate(), Err(AllocError::Exhausted(_))));
        assert!(a.release(Addr::parse("10.0.0.2").unwrap()));
        assert!(!a.release(Addr::parse("10.0.0.2").unwrap()));
        assert_eq!(a.allocate().unwrap().to_string(), "10.0.0.2");
    }
}
