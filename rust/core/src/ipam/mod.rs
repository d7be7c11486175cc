// SPDX-License-Identifier: Apache-2.0
//! IP address management: sparse bitmaps, host-local ranges, pools and the allocator.

pub mod allocator;
pub mod bitmap;
pub mod pool;
pub mod range;
