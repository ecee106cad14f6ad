"""protocol/response.py: the response types, their receipt digest and the delta encoding
of selections both codecs share (the codecs: test_response_json.py, test_response_wire.py)."""

from __future__ import annotations

import dataclasses

import pytest

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.receipt import output_hash, receipt_digest, selection_hash
from ghostproof.protocol.response import delta_decode, delta_encode


def test_delta_round_trip():
    assert delta_decode(delta_encode([0, 3, 4, 100])) == (0, 3, 4, 100)


def test_delta_encode_first_is_absolute():
    assert delta_encode([5, 6, 10]) == [5, 1, 4]


@pytest.mark.parametrize("deltas", [[-1], [0, 0], [3, 1, 0], [1, True], [1.0], [0, -2]])
def test_invalid_delta_decode(deltas):
    with pytest.raises(FormatError, match="strictly increasing"):
        delta_decode(deltas)


def test_digest_is_the_receipt_digest(resp):
    layers = [(lp.q, lp.tau, lp.selected) for lp in resp.layers]
    assert resp.digest() == receipt_digest(
        chain_id=resp.chain_id, verifying_contract=resp.verifying_contract,
        model_id=resp.request.model_id, ghost_root=resp.ghost_root, request=resp.request.hash,
        selection=selection_hash(layers), output=output_hash(resp.output),
    )


def test_invalid_digest_other_tau(resp):
    """Changing one layer's τ changes the digest the signature must cover."""
    layer = dataclasses.replace(resp.layers[0], tau=resp.layers[0].tau + 1)
    other = dataclasses.replace(resp, layers=(layer, *resp.layers[1:]))
    assert other.digest() != resp.digest()
