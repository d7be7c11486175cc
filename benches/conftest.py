# SPDX-License-Identifier: Apache-2.0
"""Benchmarks share the test fixtures (plugin launchers, namespaces, the Go libcni driver)."""

from tests.conftest import go_driver, make_netns, our_bin, plugin_dir

__all__ = ["go_driver", "make_netns", "our_bin", "plugin_dir"]
