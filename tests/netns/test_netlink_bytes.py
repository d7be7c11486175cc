# SPDX-License-Identifier: Apache-2.0
"""Our netlink message bytes equal pyroute2's (an independent encoder), without root."""

from __future__ import annotations

from cni._native import encode_veth_setup
from tests.support.wire import pyroute2_veth_setup


def test_veth_address_and_route_bytes_are_identical() -> None:
    assert encode_veth_setup("veth0a1b2c3d", "eth0", 7, "10.1.0.5/24", "10.1.0.1") == pyroute2_veth_setup()
