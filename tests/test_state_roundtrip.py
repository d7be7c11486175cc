# SPDX-License-Identifier: Apache-2.0
"""S10: whatever identifiers arrive, the state written from them always parses back.

Container IDs, interface names and network names end up in file contents (host-local's
`containerID\\r\\nifname`), in file names (the store's index, the result cache) and in
JSON. Generated values full of delimiters, line breaks, NUL, path separators, quotes,
surrogates (undecodable bytes in the environment) and non-ASCII either get the spec's error
before the plugin does anything, or are written and read back unchanged, without escaping
the state directories.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cni import skel
from cni.ipam.store import DiskStore, Owner
from cni.runtime.cache import CachedAttachment, ResultCache
from tests.support.sdk import GOOD_CONF, RESULT, run

HOSTILE = "aZ09_.-/:\\\n\r\t \0\"',;=\x1b\x7féü\udcff"
hostile = st.text(alphabet=HOSTILE, min_size=0, max_size=18)
# Mostly-valid names with one hostile character somewhere, so both outcomes stay common.
almost = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(alphabet="abc019_.-", min_size=1, max_size=6),
    st.sampled_from(HOSTILE),
    st.text(alphabet="abc019_.-", max_size=6),
)
names = st.one_of(hostile, almost, st.sampled_from(["c1", "eth0", "net1"]))


def _files_under(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


@settings(max_examples=400, deadline=None)
@given(container_id=names, ifname=names, network=names)
@example(container_id="c1", ifname="e\udcff", network="net1")
@example(container_id="c1", ifname='é"\\\x1b,;=', network="net1")
@example(container_id="c1", ifname="eth0", network="net\udcff")
def test_s10_identifiers_are_refused_or_round_trip(container_id: str, ifname: str, network: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        data_dir = os.path.join(root, "ipam")
        cache_dir = os.path.join(root, "cache")

        def add(args: skel.CmdArgs) -> object:
            owner = Owner(args.container_id, args.ifname)
            with DiskStore(str(args.conf["name"]), data_dir) as store:
                assert store.reserve("10.1.0.2", owner)
                store.record(owner, ["10.1.0.2"])
            ResultCache(cache_dir).write(
                CachedAttachment(str(args.conf["name"]), args.container_id, args.ifname, result=RESULT)
            )
            return RESULT

        outcome = run({"CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname}, {**GOOD_CONF, "name": network}, add=add)
        if outcome.status == 1:
            # Refused by the SDK (bad variable 4, undecodable config 6, bad config 7), before
            # anything was written.
            assert outcome.code in (4, 6, 7), outcome.stdout
            assert not os.path.exists(data_dir)
            assert not os.path.exists(cache_dir)
            return
        assert outcome.status == 0, outcome.stdout
        # Nothing left the two state directories.
        assert all(not f.startswith("..") for f in _files_under(root))
        # The reservation file and the index name the same owner.
        with DiskStore(network, data_dir) as store:
            found = store.rebuild()
            owner = found["10.1.0.2"]
            assert owner is not None
            assert (owner.container_id, owner.ifname) == (container_id, ifname)
            assert store.addresses_of(Owner(container_id, ifname)) == ["10.1.0.2"]
        cached = ResultCache(cache_dir).read(network, container_id, ifname)
        assert cached is not None
        assert (cached.network_name, cached.container_id, cached.ifname) == (network, container_id, ifname)
        assert cached.result == RESULT
