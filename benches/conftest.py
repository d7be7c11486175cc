# SPDX-License-Identifier: Apache-2.0
"""Benchmarks share the test fixtures (plugin launchers, namespaces)."""

from tests.conftest import plugin_dir

__all__ = ["plugin_dir"]
