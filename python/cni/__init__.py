# SPDX-License-Identifier: Apache-2.0
"""cni: the Container Network Interface for Linux, in Python with a Rust core.

Submodules are imported on first use: plugins start a new process for every operation,
so importing `cni` itself costs nothing.

- :mod:`cni.errors`: the CNI error codes as exceptions.
- :mod:`cni.skel`: the plugin SDK.
- :mod:`cni.runtime`: the runtime library (load configs, ADD/CHECK/DEL/GC/STATUS, cache).
- :mod:`cni.models`: pydantic models of configs and results.
"""

__version__ = "0.1.0"
