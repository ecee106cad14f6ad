"""Print docs/PROTOCOL.md Appendix A: the toy model's ghost file, hashes, proven answer and
its binary form, recomputed with the current code (so the appendix can be checked and
regenerated). Run: `.venv/bin/python scripts/protocol_example.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.ghost import LayerSpec
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.receipt import layer_selection_hash, output_hash, selection_hash
from ghostproof.protocol.response_json import dumps_response
from ghostproof.protocol.response_wire import encode_binary
from ghostproof.prover.commit import CommittedLayer, commit_model
from ghostproof.prover.prove import Prover

KEYS = np.array([[127, 0, 0, 0], [0, 127, 0, 0], [0, 0, 90, 90]], dtype=np.int8)
VALUES = np.array([[127, 0], [0, 127], [64, 64]], dtype=np.int8)
PROVER_KEY = bytes([1]) * 32
X = np.array([0.5, 0.5, 33.5, 122.5], dtype=np.float32)


def toy_model():
    """The appendix's one-layer model: N = 3, d_in = 4, d_out = 2, k = 2, beta = 8."""
    spec = LayerSpec(d_in=4, d_out=2, n=3, k=2, beta=8.0, s_k=1 / 127, s_v=1 / 127)
    return commit_model("toy", [CommittedLayer(KEYS, VALUES, spec)])


def main() -> None:
    model = toy_model()
    ghost = model.ghost
    response = Prover(model, PROVER_KEY).prove(X, nonce=bytes(32))
    layer = response.layers[0]
    print("ghost file:", ghost.to_bytes().decode())
    print("logitScale    ", ghost.header.layers[0].logit_scale)
    print("headerHash    ", to_hex(ghost.header_hash))
    leaves = ghost.layer_root_leaves()
    print("leaf(K root)  ", to_hex(leaves[0]))
    print("leaf(V root)  ", to_hex(leaves[1]))
    print("layersRoot    ", to_hex(ghost.layers_root))
    print("ghostRoot     ", to_hex(ghost.ghost_root))
    print("ghost file CID", cid_for_bytes(ghost.to_bytes()))
    print("prover        ", response.prover)
    print("q_0           ", to_hex(layer.q.tobytes()), "tau", layer.tau, "S", layer.selected)
    print("keyColumns    ", to_hex(layer.key_columns.tobytes()))
    print("valueRows     ", to_hex(layer.value_rows.tobytes()))
    print("keyProof      ", [to_hex(h) for h in layer.key_proof])
    print("valueProof    ", [to_hex(h) for h in layer.value_proof])
    print("output        ", response.output.tolist(), "=", (response.output / 65536 / 127).tolist())
    print("requestHash   ", to_hex(response.request.hash))
    print("layerSel_0    ", to_hex(layer_selection_hash(0, layer.q, layer.tau, layer.selected)))
    print("selectionHash ", to_hex(selection_hash([(layer.q, layer.tau, layer.selected)])))
    print("outputHash    ", to_hex(output_hash(response.output)))
    print("digest        ", to_hex(response.digest()))
    print("signature     ", to_hex(response.signature))
    raw = encode_binary(response, compress=False)
    print("binary        ", len(raw), "bytes raw,", len(encode_binary(response)), "with zstd")
    print(raw.hex())
    print(dumps_response(response))


if __name__ == "__main__":
    main()
