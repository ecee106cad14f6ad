"""verifier/verify.py: a valid response verifies; every field tampered with is rejected.

Tampers of the proven content (queries, selections, columns, proofs, output) are re-signed
by the prover's key, as a lying prover would do, so that the proof checks themselves — not
the signature — must catch them. Tampers of the receipt fields are left unsigned.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ghostproof.protocol.errors import (
    FormatError,
    MultiproofError,
    ProofError,
    ReceiptError,
    RootMismatchError,
)
from ghostproof.protocol.merkle import multiproof
from ghostproof.protocol.response import LayerProof, Request, Response
from ghostproof.protocol.response_json import dumps_response, loads_response
from ghostproof.protocol.response_wire import decode_binary as decode
from ghostproof.protocol.response_wire import encode_binary
from ghostproof.protocol.signing import SECP256K1_HALF_N, sign_digest
from ghostproof.verifier.verify import Expected, verify
from tests.conftest import CHAIN_ID, CONTRACT, MODEL_ID, NONCE, PROVER_KEY, PROVER_KEY_ADDRESS

SECP256K1_N = 2 * SECP256K1_HALF_N + 1


def resign(resp: Response) -> Response:
    """The response signed again by the prover (a lying prover signs whatever it sends)."""
    return dataclasses.replace(resp, signature=sign_digest(resp.digest(), PROVER_KEY))


def with_layer(resp: Response, i: int, **changes) -> Response:
    layers = list(resp.layers)
    layers[i] = dataclasses.replace(layers[i], **changes)
    return dataclasses.replace(resp, layers=tuple(layers))


def flip_byte(data: bytes, at: int = 0) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def flipped_int8(arr: np.ndarray, row: int = 0, col: int = 0) -> np.ndarray:
    out = np.array(arr, dtype=np.int8, copy=True)
    out[row, col] = out[row, col] + 1 if out[row, col] < 127 else 126
    return out


def _unused_index(selected: tuple[int, ...], n: int) -> int:
    return next(j for j in range(n) if j not in selected)


def swap_selected(resp: Response, i: int) -> Response:
    lp = resp.layers[i]
    sel = list(lp.selected)
    sel[3] = _unused_index(lp.selected, 300)
    order = np.argsort(sel)
    return with_layer(
        resp,
        i,
        selected=tuple(int(sel[o]) for o in order),
        key_columns=lp.key_columns[order],
        value_rows=lp.value_rows[order],
    )


def drop_selected(resp: Response, i: int) -> Response:
    lp = resp.layers[i]
    return with_layer(
        resp, i, selected=lp.selected[1:], key_columns=lp.key_columns[1:], value_rows=lp.value_rows[1:]
    )


def add_selected(resp: Response, i: int) -> Response:
    lp = resp.layers[i]
    extra = _unused_index(lp.selected, 300)
    sel = sorted([*lp.selected, extra])
    at = sel.index(extra)
    return with_layer(
        resp,
        i,
        selected=tuple(sel),
        key_columns=np.insert(lp.key_columns, at, lp.key_columns[0], axis=0),
        value_rows=np.insert(lp.value_rows, at, lp.value_rows[0], axis=0),
    )


def out_of_range_selected(resp: Response, i: int) -> Response:
    lp = resp.layers[i]
    return with_layer(resp, i, selected=(*lp.selected[:-1], 300))


def unsorted_selected(resp: Response, i: int) -> Response:
    lp = resp.layers[i]
    sel = list(lp.selected)
    sel[0], sel[1] = sel[1], sel[0]
    return with_layer(resp, i, selected=tuple(sel))


def q_plus(resp: Response, i: int, delta: int) -> Response:
    q = resp.layers[i].q.astype(np.int16)
    q[0] = q[0] + delta if q[0] + delta <= 127 else q[0] - delta
    return with_layer(resp, i, q=q.astype(np.int8))


def tau_plus(resp: Response, i: int, delta: int) -> Response:
    return with_layer(resp, i, tau=resp.layers[i].tau + delta)


def proof_edit(resp: Response, i: int, field: str, how: str) -> Response:
    proof = list(getattr(resp.layers[i], field))
    if how == "flip":
        proof[0] = flip_byte(proof[0], 31)
    elif how == "drop":
        proof.pop()
    elif how == "add":
        proof.append(bytes(32))
    elif how == "swap":
        proof[0], proof[1] = proof[1], proof[0]
    return with_layer(resp, i, **{field: tuple(proof)})


def replace_top(resp: Response, **changes) -> Response:
    return dataclasses.replace(resp, **changes)


def replace_request(resp: Response, **changes) -> Response:
    return dataclasses.replace(resp, request=dataclasses.replace(resp.request, **changes))


def nudged_input(resp: Response) -> np.ndarray:
    x = resp.request.x.copy()
    x[0] = np.nextafter(x[0], np.float32(np.inf))
    return x


def high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    v = 55 - signature[64]  # 27 <-> 28
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


# (id, tamper, re-sign, expected error, layer, matrix)
TAMPERS = [
    # receipt fields: the signature no longer covers them
    ("modelId", lambda r: replace_request(r, model_id=MODEL_ID + 1), False, ReceiptError, None, None),
    ("chainId", lambda r: replace_top(r, chain_id=CHAIN_ID + 1), False, ReceiptError, None, None),
    (
        "verifyingContract",
        lambda r: replace_top(r, verifying_contract="0x" + "22" * 20),
        False,
        ReceiptError,
        None,
        None,
    ),
    (
        "ghostRoot",
        lambda r: replace_top(r, ghost_root=flip_byte(r.ghost_root)),
        True,
        ReceiptError,
        None,
        None,
    ),
    (
        "nonce",
        lambda r: replace_request(r, nonce=flip_byte(r.request.nonce)),
        False,
        ReceiptError,
        None,
        None,
    ),
    ("input-nudged", lambda r: replace_request(r, x=nudged_input(r)), False, ReceiptError, None, None),
    ("input-negated", lambda r: replace_request(r, x=-r.request.x), True, ProofError, 0, None),
    (
        "input-nan",
        lambda r: replace_request(r, x=np.full_like(r.request.x, np.nan)),
        True,
        ProofError,
        0,
        None,
    ),
    ("input-zero", lambda r: replace_request(r, x=np.zeros_like(r.request.x)), True, ProofError, 0, None),
    ("input-short", lambda r: replace_request(r, x=r.request.x[:-1]), True, ProofError, 0, None),
    ("prover", lambda r: replace_top(r, prover="0x" + "33" * 20), False, ReceiptError, None, None),
    (
        "signature-r",
        lambda r: replace_top(r, signature=flip_byte(r.signature, 5)),
        False,
        ReceiptError,
        None,
        None,
    ),
    (
        "signature-s",
        lambda r: replace_top(r, signature=flip_byte(r.signature, 40)),
        False,
        ReceiptError,
        None,
        None,
    ),
    (
        "signature-v",
        lambda r: replace_top(r, signature=r.signature[:64] + b"\x1d"),
        False,
        ReceiptError,
        None,
        None,
    ),
    (
        "signature-high-s",
        lambda r: replace_top(r, signature=high_s(r.signature)),
        False,
        ReceiptError,
        None,
        None,
    ),
    (
        "signature-short",
        lambda r: replace_top(r, signature=r.signature[:64]),
        False,
        ReceiptError,
        None,
        None,
    ),
    ("signature-zero", lambda r: replace_top(r, signature=bytes(65)), False, ReceiptError, None, None),
    # the claimed output (signed)
    (
        "output-element-by-1",
        lambda r: replace_top(r, output=r.output + np.eye(r.output.size, dtype=np.int64)[0]),
        True,
        ProofError,
        None,
        None,
    ),
    ("output-argmax", lambda r: replace_top(r, output=r.output[::-1].copy()), True, ProofError, None, None),
    ("output-short", lambda r: replace_top(r, output=r.output[:-1]), True, ProofError, None, None),
    # whole layers
    ("layers-dropped", lambda r: replace_top(r, layers=r.layers[:1]), True, ProofError, None, None),
    ("layers-swapped", lambda r: replace_top(r, layers=r.layers[::-1]), True, ProofError, 0, None),
]
for i in (0, 1):
    TAMPERS += [
        # format 2: the claimed query must equal the verifier's exactly (no ±1 band)
        (f"L{i}-q-by-1", lambda r, i=i: q_plus(r, i, 1), True, ProofError, i, None),
        (f"L{i}-q-by-2", lambda r, i=i: q_plus(r, i, 2), True, ProofError, i, None),
        (f"L{i}-tau-plus-1", lambda r, i=i: tau_plus(r, i, 1), True, ProofError, i, None),
        (f"L{i}-tau-minus-1", lambda r, i=i: tau_plus(r, i, -1), True, ProofError, i, None),
        (f"L{i}-q-short", lambda r, i=i: with_layer(r, i, q=r.layers[i].q[:-1]), True, ProofError, i, None),
        (f"L{i}-selected-swap", lambda r, i=i: swap_selected(r, i), True, MultiproofError, i, "K"),
        (f"L{i}-selected-drop", lambda r, i=i: drop_selected(r, i), True, ProofError, i, None),
        (f"L{i}-selected-add", lambda r, i=i: add_selected(r, i), True, ProofError, i, None),
        (
            f"L{i}-selected-out-of-range",
            lambda r, i=i: out_of_range_selected(r, i),
            True,
            ProofError,
            i,
            None,
        ),
        (f"L{i}-selected-unsorted", lambda r, i=i: unsorted_selected(r, i), True, ProofError, i, None),
        (
            f"L{i}-keyColumns",
            lambda r, i=i: with_layer(r, i, key_columns=flipped_int8(r.layers[i].key_columns, 2, 3)),
            True,
            MultiproofError,
            i,
            "K",
        ),
        (
            f"L{i}-keyColumns-shape",
            lambda r, i=i: with_layer(r, i, key_columns=r.layers[i].key_columns[:, :-1]),
            True,
            ProofError,
            i,
            "K",
        ),
        (
            f"L{i}-valueRows",
            lambda r, i=i: with_layer(r, i, value_rows=flipped_int8(r.layers[i].value_rows, 5, 0)),
            True,
            MultiproofError,
            i,
            "V",
        ),
        (
            f"L{i}-valueRows-shape",
            lambda r, i=i: with_layer(r, i, value_rows=r.layers[i].value_rows[:, :-1]),
            True,
            ProofError,
            i,
            "V",
        ),
        (
            f"L{i}-valueRows-swapped-rows",
            lambda r, i=i: with_layer(r, i, value_rows=r.layers[i].value_rows[::-1]),
            True,
            MultiproofError,
            i,
            "V",
        ),
    ]
    for field, matrix in (("key_proof", "K"), ("value_proof", "V")):
        for how in ("flip", "drop", "add", "swap"):
            TAMPERS.append(
                (
                    f"L{i}-{field}-{how}",
                    lambda r, i=i, f=field, h=how: proof_edit(r, i, f, h),
                    True,
                    MultiproofError,
                    i,
                    matrix,
                )
            )


@pytest.fixture(scope="module")
def resp(small) -> Response:
    return small.response


@pytest.fixture(scope="module")
def root(small) -> bytes:
    return small.model.ghost_root


# ---------------------------------------------------------------- valid


def test_valid_response_verifies(small, resp, root):
    result = verify(resp, small.model.ghost, root)
    assert np.array_equal(result.output, resp.output)


def test_valid_response_names_signer_and_selections(small, resp, root):
    result = verify(resp, small.model.ghost, root)
    assert result.prover == small.prover.address
    assert result.selections == tuple(lp.selected for lp in resp.layers)


def test_valid_response_selects_true_top_k(small, resp):
    from ghostproof.protocol.layer import int_scores, top_k

    lp = resp.layers[0]
    keys = small.model.layers[0].keys
    assert lp.selected == tuple(top_k(int_scores(lp.q, keys), len(lp.selected)).tolist())


def test_valid_response_verifies_with_every_expectation(small, resp, root):
    expected = Expected(
        model_id=MODEL_ID,
        chain_id=CHAIN_ID,
        verifying_contract=CONTRACT.upper().replace("0X", "0x"),
        prover=small.prover.address.lower(),
        request=Request(MODEL_ID, small.x, NONCE),
    )
    assert np.array_equal(verify(resp, small.model.ghost, root, expected).output, resp.output)


def test_valid_response_after_json_round_trip(small, resp, root):
    again = loads_response(dumps_response(resp))
    assert np.array_equal(verify(again, small.model.ghost, root).output, resp.output)


def test_valid_response_after_binary_round_trip(small, resp, root):
    again = decode(encode_binary(resp))
    assert np.array_equal(verify(again, small.model.ghost, root).output, resp.output)


def test_resigning_an_untouched_response_keeps_it_valid(small, resp, root):
    verify(resign(resp), small.model.ghost, root)


def prove_from_query(model, request: Request, q0: np.ndarray) -> Response:
    """An answer computed honestly in every step but one: layer 0 starts from ``q0`` (a
    lying prover's nearby query) instead of the quantised request input."""
    from ghostproof.protocol.layer import int_scores, layer_forward, requantise, top_k

    layers, q = [], q0
    for i, layer in enumerate(model.layers):
        sel = [int(j) for j in top_k(int_scores(q, layer.keys), layer.spec.k)]
        result = layer_forward(q, layer.keys[sel], layer.values[sel], layer.spec.logit_scale)
        tree_k, tree_v = model.trees[i]
        layers.append(LayerProof(
            q=q, tau=result.tau, selected=tuple(sel), key_columns=layer.keys[sel],
            value_rows=layer.values[sel], key_proof=tuple(multiproof(tree_k, sel)),
            value_proof=tuple(multiproof(tree_v, sel)),
        ))
        y, q = result.output, requantise(result.output)
    return resign(Response(
        request=request, ghost_root=model.ghost_root, chain_id=CHAIN_ID, verifying_contract=CONTRACT,
        layers=tuple(layers), output=y, prover=PROVER_KEY_ADDRESS, signature=bytes(65),
    ))


def test_invalid_nearby_query_that_changes_the_selection(small, resp, root):
    """Issue 9 item 1: with format 1's ±1 band a prover could answer a nearby query q′ whose
    exact top-k differs, and sign it. Build such a q′ (every element moved by at most 1,
    towards the best unselected column and away from the weakest selected one) and show
    that the answer computed honestly from it is refused."""
    from ghostproof.protocol.layer import int_scores, top_k

    layer0 = small.model.layers[0]
    q = resp.layers[0].q
    scores = int_scores(q, layer0.keys)
    selected = top_k(scores, layer0.spec.k)
    outside = max(set(range(layer0.spec.n)) - set(selected.tolist()), key=lambda j: (scores[j], -j))
    weakest = min(selected.tolist(), key=lambda j: (scores[j], -j))
    push = np.sign(layer0.keys[outside].astype(np.int16) - layer0.keys[weakest])
    nearby = np.clip(q.astype(np.int16) + push, -127, 127).astype(np.int8)
    assert np.max(np.abs(nearby.astype(np.int16) - q)) == 1
    assert top_k(int_scores(nearby, layer0.keys), layer0.spec.k).tolist() != selected.tolist()
    lie = prove_from_query(small.model, resp.request, nearby)
    with pytest.raises(ProofError, match="quantised input") as info:
        verify(lie, small.model.ghost, root)
    assert info.value.layer == 0


def test_prove_from_query_is_honest_with_the_true_query(small, resp, root):
    """The helper above, given the true quantised query, makes an answer that verifies."""
    again = prove_from_query(small.model, resp.request, resp.layers[0].q)
    assert np.array_equal(verify(again, small.model.ghost, root).output, resp.output)


def test_valid_but_not_top_k_selection_verifies(small, resp, root):
    """DESIGN §3: the proof does not show S was the true top-k; that is left to challenges (§6)."""
    lp = resp.layers[1]
    layer = small.model.layers[1]
    sel = sorted([*lp.selected[1:], _unused_index(lp.selected, 300)])
    tree_k, tree_v = small.model.trees[1]
    forged = with_layer(
        resp,
        1,
        selected=tuple(sel),
        key_columns=layer.keys[sel],
        value_rows=layer.values[sel],
        key_proof=tuple(multiproof(tree_k, sel)),
        value_proof=tuple(multiproof(tree_v, sel)),
    )
    from ghostproof.protocol.layer import layer_forward

    result = layer_forward(lp.q, layer.keys[sel], layer.values[sel], layer.spec.logit_scale)
    forged = with_layer(forged, 1, tau=result.tau)
    forged = resign(replace_top(forged, output=result.output))
    assert verify(forged, small.model.ghost, root).selections[1] == tuple(sel)


# ---------------------------------------------------------------- one field at a time


@pytest.mark.parametrize(
    ("tamper", "sign", "error", "layer", "matrix"),
    [t[1:] for t in TAMPERS],
    ids=[t[0] for t in TAMPERS],
)
def test_invalid_tampered_field(small, resp, root, tamper, sign, error, layer, matrix):
    bad = tamper(resp)
    if sign:
        bad = resign(bad)
    with pytest.raises(error) as info:
        verify(bad, small.model.ghost, root)
    assert (info.value.layer, info.value.matrix) == (layer, matrix)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_id", MODEL_ID + 1),
        ("chain_id", CHAIN_ID + 1),
        ("verifying_contract", "0x" + "22" * 20),
        ("prover", "0x" + "33" * 20),
        ("request", Request(MODEL_ID, np.ones(16, dtype=np.float32), NONCE)),
        ("request", Request(MODEL_ID, None, bytes(32))),
    ],
)
def test_invalid_unexpected_receipt_field(small, resp, root, field, value):
    if field == "request" and value.x is None:
        value = Request(MODEL_ID, small.x, bytes(32))
    with pytest.raises(ReceiptError):
        verify(resp, small.model.ghost, root, Expected(**{field: value}))


# ---------------------------------------------------------------- other models and anchors


def test_invalid_response_for_another_model(small, other, root):
    with pytest.raises(ReceiptError, match="ghostRoot"):
        verify(other.response, small.model.ghost, root)


def test_invalid_response_for_another_model_relabelled(small, other, root):
    relabelled = resign(replace_top(other.response, ghost_root=root))
    with pytest.raises(MultiproofError) as info:
        verify(relabelled, small.model.ghost, root)
    assert (info.value.layer, info.value.matrix) == (0, "K")


def test_invalid_ghost_file_not_matching_anchor(small, other, resp, root):
    with pytest.raises(RootMismatchError):
        verify(resp, other.model.ghost, root)


def test_invalid_anchor_for_the_right_ghost_file(small, resp, root):
    with pytest.raises(RootMismatchError):
        verify(resp, small.model.ghost, flip_byte(root))


def test_other_models_response_verifies_against_its_own_ghost(other):
    verify(other.response, other.model.ghost, other.model.ghost_root)


# ---------------------------------------------------------------- fields that do not decode


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda o: o["layers"][0]["selected"].__setitem__(1, 0), "selected"),
        (
            lambda o: (
                o["layers"][1]["keyColumns"].__len__() and o["layers"][1].__setitem__("keyColumns", "0x00")
            ),
            "keyColumns",
        ),
        (lambda o: o["layers"][0]["keyProof"].__setitem__(0, "0x00"), "keyProof"),
        (lambda o: o.__setitem__("signature", "0x00"), "signature"),
        (lambda o: o["request"].__setitem__("nonce", "0x"), "nonce"),
    ],
)
def test_invalid_undecodable_field(resp, edit, what):
    obj = json.loads(dumps_response(resp))
    edit(obj)
    with pytest.raises(FormatError, match=what):
        loads_response(json.dumps(obj))


def test_layer_proof_is_frozen(resp):
    with pytest.raises(dataclasses.FrozenInstanceError):
        resp.layers[0].selected = ()  # type: ignore[misc]


def test_layer_proof_type(resp):
    assert all(isinstance(lp, LayerProof) for lp in resp.layers)


# ---------------------------------------------------------------- extreme header scales


def _model_with_scales(logit_scale: int, s_v: float, layers: int = 2):
    """A committed model with extreme committed scales (a lying prover's choice)."""
    from ghostproof.protocol.ghost import LayerSpec
    from ghostproof.prover.commit import CommittedLayer, commit_model

    rng = np.random.default_rng(5)
    committed = [
        CommittedLayer(
            rng.integers(-127, 128, (16, 8), dtype=np.int8),
            rng.integers(-127, 128, (16, 8), dtype=np.int8),
            LayerSpec(8, 8, 16, 4, 1.0, 1.0, s_v, logit_scale),
        )
        for _ in range(layers)
    ]
    return commit_model("extreme", committed)


@pytest.mark.parametrize(
    ("logit_scale", "s_v"),
    [(0, 1e308), ((1 << 32) - 1, 1e-300), (1 << 31, 1.0)],
    ids=["uniform-softmax-huge-sV", "argmax-softmax-tiny-sV", "steep"],
)
def test_extreme_scales_stay_exact(logit_scale, s_v):
    """Format 2 computes in bounded integers: no header scale can overflow the verifier, and
    an output changed by one unit is still caught (format 1 compared floats that could be inf)."""
    from ghostproof.prover.prove import Prover

    model = _model_with_scales(logit_scale, s_v)
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    honest = Prover(model, PROVER_KEY).prove(x, nonce=NONCE)
    result = verify(honest, model.ghost, model.ghost_root)
    assert np.all(np.abs(result.output) <= 127 << 16)
    lie = resign(replace_top(honest, output=honest.output + np.eye(8, dtype=np.int64)[7]))
    with pytest.raises(ProofError, match="output differs"):
        verify(lie, model.ghost, model.ghost_root)
