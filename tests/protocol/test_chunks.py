"""protocol/chunks.py and the ghost header's canonical form: the fast paths a sparse update
uses write exactly what the references (multiformats, rfc8785) write."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.chunks import (
    ChunkRef,
    cid_for_bytes,
    cid_for_bytes_reference,
    cid_matches,
    parse_cid,
)
from ghostproof.protocol.ghost import GhostHeader, LayerSpec


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_cid_fast_path_is_multiformats(data: bytes) -> None:
    cid = cid_for_bytes(data)
    assert cid == cid_for_bytes_reference(data)
    assert cid.startswith("bafkrei") and parse_cid(cid) and cid_matches(cid, data)


def test_cid_of_known_bytes() -> None:
    # `ipfs block put --cid-codec raw` of the empty block
    assert cid_for_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert not cid_matches(cid_for_bytes(b"a"), b"b")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("KV"), st.integers(0, 10**6),
                          st.integers(1, 5000), st.binary(min_size=1, max_size=16)), max_size=40),
       st.text(max_size=30))
def test_header_canonical_is_rfc8785(entries, name: str) -> None:
    chunks = tuple(ChunkRef(layer, m, first, count, cid_for_bytes(b))
                   for layer, m, first, count, b in entries)
    header = GhostHeader(name, (LayerSpec(8, 4, 16, 2, 1.0, 0.01, 0.01),), chunks)
    assert header.canonical() == rfc8785.dumps(header.to_json())
