# SPDX-License-Identifier: Apache-2.0
"""The plugins this package ships, one module each; :mod:`cni.plugins.registry` lists them."""
