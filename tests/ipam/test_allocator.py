# SPDX-License-Identifier: Apache-2.0
"""`cni.ipam.IPAllocator`: the Rust allocator as Python code uses it."""

from __future__ import annotations

import ipaddress
import tracemalloc

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cni.errors import AddressExhausted, AddressInUse, AddressOutOfRange, CNIError
from cni.ipam import IPAllocator


def test_basics_and_types() -> None:
    pool = IPAllocator("10.22.0.0/24", gateway="10.22.0.1")
    first = pool.allocate()
    assert first == ipaddress.IPv4Address("10.22.0.2")
    assert isinstance(first, ipaddress.IPv4Address)
    pool.reserve(ipaddress.ip_address("10.22.0.50"))
    assert pool.allocate() == ipaddress.IPv4Address("10.22.0.51")
    assert len(pool) == 3
    assert pool.size == 253  # .1-.254 less the gateway
    assert pool.free == 253 - 3
    assert list(pool) == [ipaddress.IPv4Address(a) for a in ("10.22.0.2", "10.22.0.50", "10.22.0.51")]
    assert "10.22.0.50" in pool
    assert ipaddress.ip_address("10.22.0.50") in pool
    assert "10.22.0.60" not in pool
    assert "garbage" not in pool
    assert pool.release("10.22.0.50") is True
    assert pool.release("10.22.0.50") is False
    assert pool.subnet == "10.22.0.0/24"
    assert pool.range_start == ipaddress.IPv4Address("10.22.0.1")
    assert pool.range_end == ipaddress.IPv4Address("10.22.0.254")
    assert pool.gateway == ipaddress.IPv4Address("10.22.0.1")
    assert pool.last == ipaddress.IPv4Address("10.22.0.51")
    assert "IPAllocator" in repr(pool)


def test_accepts_ipaddress_objects_everywhere() -> None:
    pool = IPAllocator(
        ipaddress.ip_network("fd00::/120"),
        range_start=ipaddress.ip_address("fd00::10"),
        range_end=ipaddress.ip_address("fd00::12"),
        gateway=ipaddress.ip_address("fd00::11"),
    )
    got = [pool.allocate(), pool.allocate()]
    assert got == [ipaddress.IPv6Address("fd00::10"), ipaddress.IPv6Address("fd00::12")]
    assert all(isinstance(a, ipaddress.IPv6Address) for a in got)
    with pytest.raises(AddressExhausted) as info:
        pool.allocate()
    assert info.value.code == 11


def test_subclasses_and_mapped_addresses() -> None:
    class Mine(ipaddress.IPv4Address):
        pass

    pool = IPAllocator("10.0.0.0/24")
    pool.reserve(Mine("10.0.0.3"))
    assert Mine("10.0.0.3") in pool
    # An IPv4-mapped IPv6 address is the IPv4 address, as Go treats it.
    assert ipaddress.ip_address("::ffff:10.0.0.3") in pool
    pool.reserve(ipaddress.ip_address("::ffff:10.0.0.4"))
    assert list(pool) == [ipaddress.IPv4Address("10.0.0.3"), ipaddress.IPv4Address("10.0.0.4")]


def test_exclusions() -> None:
    pool = IPAllocator("10.0.0.0/30")  # network .0 and broadcast .3 are never handed out
    assert [str(pool.allocate()), str(pool.allocate())] == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(AddressExhausted, match="no IP addresses available"):
        pool.allocate()


@pytest.mark.parametrize(
    ("ip", "error"),
    [
        ("10.0.0.0", AddressOutOfRange),  # network
        ("10.0.0.255", AddressOutOfRange),  # broadcast
        ("10.0.0.1", AddressOutOfRange),  # gateway
        ("10.0.1.5", AddressOutOfRange),  # outside
        ("fd00::5", AddressOutOfRange),  # wrong family
        ("10.0.0.9", AddressOutOfRange),  # before rangeStart
    ],
)
def test_s5_requests_refused(ip: str, error: type[CNIError]) -> None:
    pool = IPAllocator("10.0.0.0/24", range_start="10.0.0.10", gateway="10.0.0.1")
    with pytest.raises(error):
        pool.reserve(ip)
    assert len(pool) == 0


def test_in_use_and_errors_are_typed() -> None:
    pool = IPAllocator("10.0.0.0/24")
    pool.reserve("10.0.0.7")
    with pytest.raises(AddressInUse, match=r"10\.0\.0\.7"):
        pool.reserve("10.0.0.7")
    assert issubclass(AddressOutOfRange, ValueError)
    with pytest.raises(ValueError, match="invalid IP"):
        pool.reserve("nope")
    with pytest.raises(TypeError):
        pool.reserve(7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subnet": "10.0.0.1/24"},
        {"subnet": "10.0.0.0/31"},
        {"subnet": "10.0.0.0/24", "range_start": "10.0.1.1"},
        {"subnet": "10.0.0.0/24", "range_start": "10.0.0.9", "range_end": "10.0.0.8"},
        {"subnet": "not-a-subnet"},
    ],
)
def test_bad_ranges(kwargs: dict[str, str]) -> None:
    subnet = kwargs.pop("subnet")
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are checked in Rust's tests
        IPAllocator(subnet, **kwargs)


def test_load() -> None:
    pool = IPAllocator("10.0.0.0/24")
    pool.load(["10.0.0.3", ipaddress.ip_address("10.0.0.4")])
    assert len(pool) == 2
    assert pool.allocate() == ipaddress.IPv4Address("10.0.0.5")


def test_huge_ranges_cost_what_is_used() -> None:
    """A /64 and a /8 are ordinary: memory grows with the addresses in use."""
    tracemalloc.start()
    v6 = IPAllocator("fd00::/64")
    v4 = IPAllocator("10.0.0.0/8")
    for _ in range(10_000):
        v6.allocate()
        v4.allocate()
    assert v6.free == 2**64 - 1 - 10_000
    assert v4.free == 2**24 - 2 - 10_000
    v6.reserve("fd00::ffff:ffff:ffff:fffe")
    assert len(v6) == 10_001
    tracemalloc.stop()


# --- a model of the allocator, and a state machine that compares the two ---------------------


class Model:
    """The simplest correct allocator: a set, and host-local's round-robin search."""

    def __init__(self, start: int, end: int, gateway: int | None) -> None:
        self.start, self.end, self.gateway = start, end, gateway
        self.used: set[int] = set()
        self.last: int | None = None

    def candidates(self) -> list[int]:
        if self.last is None or not self.start <= self.last <= self.end:
            return list(range(self.start, self.end + 1))
        return list(range(self.last + 1, self.end + 1)) + list(range(self.start, self.last + 1))

    def allocate(self) -> int | None:
        for value in self.candidates():
            if value not in self.used and value != self.gateway:
                self.used.add(value)
                self.last = value
                return value
        return None


BASE = int(ipaddress.IPv4Address("10.9.0.0"))


class AllocatorMachine(RuleBasedStateMachine):
    @initialize(
        prefix=st.integers(23, 29),
        start_off=st.integers(1, 6),
        gateway_off=st.none() | st.integers(1, 7),
    )
    def setup(self, prefix: int, start_off: int, gateway_off: int | None) -> None:
        size = 2 ** (32 - prefix)
        gateway = None if gateway_off is None else BASE + gateway_off
        self.real = IPAllocator(
            f"10.9.0.0/{prefix}",
            range_start=str(ipaddress.IPv4Address(BASE + start_off)),
            gateway=None if gateway is None else str(ipaddress.IPv4Address(gateway)),
        )
        self.model = Model(BASE + start_off, BASE + size - 2, gateway)

    @rule()
    def allocate(self) -> None:
        expected = self.model.allocate()
        if expected is None:
            with pytest.raises(AddressExhausted):
                self.real.allocate()
        else:
            assert int(self.real.allocate()) == expected

    @rule(offset=st.integers(0, 600))
    def reserve(self, offset: int) -> None:
        value = BASE + offset
        m = self.model
        if not m.start <= value <= m.end or value == m.gateway:
            with pytest.raises(AddressOutOfRange):
                self.real.reserve(str(ipaddress.IPv4Address(value)))
        elif value in m.used:
            with pytest.raises(AddressInUse):
                self.real.reserve(str(ipaddress.IPv4Address(value)))
        else:
            self.real.reserve(str(ipaddress.IPv4Address(value)))
            m.used.add(value)
            m.last = value

    @precondition(lambda self: bool(self.model.used))
    @rule(data=st.data())
    def release_used(self, data: st.DataObject) -> None:
        value = data.draw(st.sampled_from(sorted(self.model.used)))
        assert self.real.release(ipaddress.IPv4Address(value)) is True
        self.model.used.discard(value)

    @rule(offset=st.integers(0, 600))
    def release_any(self, offset: int) -> None:
        value = BASE + offset
        assert self.real.release(str(ipaddress.IPv4Address(value))) is (value in self.model.used)
        self.model.used.discard(value)

    @invariant()
    def same_state(self) -> None:
        m = self.model
        assert len(self.real) == len(m.used)
        assert [int(a) for a in self.real] == sorted(m.used)
        capacity = m.end - m.start + 1 - (1 if m.gateway is not None and m.start <= m.gateway <= m.end else 0)
        assert self.real.free == capacity - len(m.used - ({m.gateway} if m.gateway else set()))


AllocatorMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestAllocatorAgainstModel = AllocatorMachine.TestCase
