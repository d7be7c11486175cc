# SPDX-License-Identifier: Apache-2.0
"""IP address management for Python code: the allocator behind our host-local plugin.

    >>> from cni.ipam import IPAllocator
    >>> pool = IPAllocator("10.22.0.0/24", gateway="10.22.0.1")
    >>> pool.allocate()
    IPv4Address('10.22.0.2')
    >>> pool.reserve("10.22.0.50")
    >>> pool.allocate()                      # round-robin: after the last reserved
    IPv4Address('10.22.0.51')
    >>> len(pool), pool.free
    (3, 250)
    >>> pool.release("10.22.0.2")
    True
    >>> "10.22.0.2" in pool
    False

Memory and time do not depend on the range's size: an IPv6 /64 is an ordinary case.
Errors are :class:`~cni.errors.AddressExhausted`, :class:`~cni.errors.AddressInUse` and
:class:`~cni.errors.AddressOutOfRange` (a `ValueError`).
"""

from cni._native import IPAllocator
from cni.errors import AddressExhausted, AddressInUse, AddressOutOfRange

__all__ = ["AddressExhausted", "AddressInUse", "AddressOutOfRange", "IPAllocator"]
