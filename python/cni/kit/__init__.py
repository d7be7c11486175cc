# SPDX-License-Identifier: Apache-2.0
"""Building blocks of this package's plugins: declared config keys (`fields`), the
container interface and IPAM (`iface`), teardown that runs every step (`teardown`), and
nft for the bridge spoof check (`nft`)."""
