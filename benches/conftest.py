# SPDX-License-Identifier: Apache-2.0
"""Benchmarks share the test fixtures (plugin launchers, namespaces)."""

from tests.conftest import our_bin, plugin_dir

__all__ = ["our_bin", "plugin_dir"]
