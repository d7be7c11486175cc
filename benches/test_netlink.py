# SPDX-License-Identifier: Apache-2.0
"""Building the netlink messages of a veth + address + route setup: ours beside pyroute2.

.venv/bin/python -m pytest benches/test_netlink.py --benchmark-enable
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.wire import pyroute2_veth_setup

from cni._native import encode_veth_setup


@pytest.mark.benchmark(group="netlink encode")
def test_encode_ours(benchmark: BenchmarkFixture) -> None:
    out = benchmark(encode_veth_setup, "veth0a1b2c3d", "eth0", 7, "10.1.0.5/24", "10.1.0.1")
    assert len(out) == 3


@pytest.mark.benchmark(group="netlink encode")
def test_encode_pyroute2(benchmark: BenchmarkFixture) -> None:
    out = benchmark(pyroute2_veth_setup)
    assert len(out) == 3
