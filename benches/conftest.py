# SPDX-License-Identifier: Apache-2.0
"""Benchmarks share the test fixtures (plugin launchers, the agent and its shims, namespaces,
the Go libcni driver)."""

from tests.conftest import agent_bin, go_driver, launcher_bin, make_netns, our_bin, plugin_dir, plugin_mode

__all__ = ["agent_bin", "go_driver", "launcher_bin", "make_netns", "our_bin", "plugin_dir", "plugin_mode"]
