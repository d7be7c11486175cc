# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the IPAM tests: the reference plugins' directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import REFERENCE_PLUGINS


@pytest.fixture
def reference_bin() -> Path:
    if not (REFERENCE_PLUGINS / "host-local").exists():
        pytest.skip("needs containernetworking-plugins")
    return REFERENCE_PLUGINS
