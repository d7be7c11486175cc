# SPDX-License-Identifier: Apache-2.0
"""The spec's rules as the plugin path uses them, lean (no pydantic, no `re`): configs and
identifiers (:mod:`cni.spec.netconf`) and result conversion between wire versions
(:mod:`cni.spec.result`). Their pydantic mirrors, for runtimes, schemas and the CLI, are
:mod:`cni.models`, with the same file names."""
