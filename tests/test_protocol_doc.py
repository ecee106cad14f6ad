"""docs/PROTOCOL.md Appendix A is what the code computes: every value it prints appears there.

The appendix is regenerated with ``scripts/protocol_example.py``; this test fails when a
format change leaves the specification's worked example behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.receipt import layer_selection_hash, output_hash
from ghostproof.protocol.response_wire import encode_binary
from ghostproof.prover.prove import Prover
from tests.fixtures.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")


def _example():
    return load_script("protocol_example")


@pytest.fixture(scope="module")
def toy():
    example = _example()
    model = example.toy_model()
    response = Prover(model, example.PROVER_KEY).prove(example.X, nonce=bytes(32))
    return model, response


def test_appendix_ghost_file_and_roots(toy):
    model, _ = toy
    ghost = model.ghost
    assert ghost.to_bytes().decode() in DOC
    for value in (ghost.header_hash, ghost.layers_root, ghost.ghost_root):
        assert to_hex(value) in DOC
    scale = ghost.header.layers[0].logit_scale
    assert f"logitScale = roundHalfEven(8 · (1/127) / 127 · log2(e) · 2^32) = {scale}" in DOC


def test_appendix_answer(toy):
    _, response = toy
    layer = response.layers[0]
    assert f"[{response.output[0]}, {response.output[1]}]" in DOC
    assert f"τ = {layer.tau}" in DOC
    for value in (
        response.request.hash,
        layer_selection_hash(0, layer.q, layer.tau, layer.selected),
        output_hash(response.output),
        response.digest(),
        response.signature,
    ):
        assert to_hex(value) in DOC


def test_appendix_binary_sizes(toy):
    _, response = toy
    raw, packed = encode_binary(response, compress=False), encode_binary(response)
    assert f"Binary, uncompressed ({len(raw)} bytes, {len(packed)} with zstd" in DOC
    assert f"The Appendix A response is {len(raw)} bytes raw, {len(packed)} bytes with zstd." in DOC
