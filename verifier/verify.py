"""verify(response, ghost, ghostRoot): DESIGN §3 steps 1–3, pure (no network, no files).

The caller passes in what it trusts: the ghostRoot (from the chain or the command line)
and the ghost file (checked against that root here). The result is the verifier's *own*
output, recomputed from the revealed columns, or a ProofError that names the layer, the
matrix and what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ghostproof.protocol.constants import MATRIX_K, MATRIX_V
from ghostproof.protocol.errors import (
    InputError,
    MultiproofError,
    ProofError,
    ReceiptError,
    RootMismatchError,
)
from ghostproof.protocol.ghost import GhostFile, LayerSpec
from ghostproof.protocol.hashing import leaf_hashes, to_hex
from ghostproof.protocol.layer import layer_forward, output_values, quantise_query, requantise, top1
from ghostproof.protocol.merkle import process_multiproof, tree_depth
from ghostproof.protocol.receipt import recover_signer
from ghostproof.protocol.response import LayerProof, Request, Response


@dataclass(frozen=True, eq=False)
class VerifiedOutput:
    """What a successful verification establishes."""

    output: np.ndarray  # the verifier's own exact output (int64, Q16 in units of s_V)
    prover: str  # the address that signed the receipt
    selections: tuple[tuple[int, ...], ...]  # per layer, the proven column indices
    thresholds: tuple[int, ...]  # per layer, the proven threshold τ
    value_scale: float  # s_V of the last layer: ``values`` = s_V · output / 2^16

    @property
    def top1(self) -> int:
        """Index of the largest output element (ties → lower index; the class of a classifier)."""
        return top1(self.output)

    @property
    def values(self) -> np.ndarray:
        """The float reading of the output, for display."""
        return output_values(self.output, self.value_scale)


def check_anchor(ghost: GhostFile, ghost_root: bytes) -> None:
    """Raise RootMismatchError unless ``ghost`` hashes to the anchored ``ghost_root``."""
    if ghost.ghost_root != ghost_root:
        raise RootMismatchError(
            f"ghost file hashes to {to_hex(ghost.ghost_root)}, "
            f"not the anchored root {to_hex(ghost_root)}"
        )


def check_layer_shape(i: int, lp: LayerProof, spec: LayerSpec) -> None:
    """Raise ProofError unless the layer's fields have the sizes its spec demands."""
    if lp.q.shape != (spec.d_in,):
        raise ProofError(f"query has {lp.q.size} elements, the model has dIn={spec.d_in}", layer=i)
    if len(lp.selected) != spec.k:
        raise ProofError(f"{len(lp.selected)} columns selected, the model has k={spec.k}", layer=i)
    if any(b <= a for a, b in zip(lp.selected, lp.selected[1:], strict=False)):
        raise ProofError("selected indices are not strictly increasing", layer=i)
    if lp.selected[0] < 0 or lp.selected[-1] >= spec.n:
        raise ProofError(f"selected index {lp.selected[-1]} is out of range (n={spec.n})", layer=i)
    if lp.key_columns.shape != (spec.k, spec.d_in):
        raise ProofError(f"key columns have shape {lp.key_columns.shape}", layer=i, matrix="K")
    if lp.value_rows.shape != (spec.k, spec.d_out):
        raise ProofError(f"value rows have shape {lp.value_rows.shape}", layer=i, matrix="V")


def check_columns(i: int, lp: LayerProof, spec: LayerSpec, ghost: GhostFile) -> None:
    """Raise MultiproofError unless the revealed columns are in the committed layer roots."""
    depth = tree_depth(spec.n)
    for tag, name, data, proof in (
        (MATRIX_K, "K", lp.key_columns, lp.key_proof),
        (MATRIX_V, "V", lp.value_rows, lp.value_proof),
    ):
        leaves = leaf_hashes(i, tag, data, indices=np.asarray(lp.selected))
        try:
            root = process_multiproof(depth, lp.selected, leaves, list(proof))
        except MultiproofError as exc:
            raise MultiproofError(exc.reason, layer=i, matrix=name) from None
        if root != ghost.layer_root(i, name):
            raise MultiproofError(
                "revealed columns do not match the committed root", layer=i, matrix=name
            )


@dataclass(frozen=True)
class Expected:
    """What the client knows independently of the response; each field set is checked.

    ``request`` is the request the client sent (its input and nonce must be echoed);
    ``prover`` the registered prover's address; ``chain_id``/``verifying_contract`` the
    EIP-712 domain receipts must be signed under (so they can be challenged there).
    """

    model_id: int | None = None
    chain_id: int | None = None
    verifying_contract: str | None = None
    prover: str | None = None
    request: Request | None = None


def check_expected(response: Response, expected: Expected) -> None:
    """Raise ReceiptError where the response differs from what the client expects."""
    checks = [
        ("model id", expected.model_id, response.request.model_id),
        ("chain id", expected.chain_id, response.chain_id),
    ]
    for what, want, got in checks:
        if want is not None and want != got:
            raise ReceiptError(f"receipt {what} is {got}, expected {want}")
    for what, want_addr, got_addr in (
        ("verifying contract", expected.verifying_contract, response.verifying_contract),
        ("prover", expected.prover, response.prover),
    ):
        if want_addr is not None and want_addr.lower() != got_addr.lower():
            raise ReceiptError(f"receipt {what} is {got_addr}, expected {want_addr}")
    if expected.request is not None:
        sent = expected.request
        if sent.nonce != response.request.nonce:
            raise ReceiptError("response answers a different nonce than the request sent")
        if not np.array_equal(np.asarray(sent.x, dtype=np.float32), response.request.x):
            raise ReceiptError("response answers a different input than the request sent")


def verify(
    response: Response,
    ghost: GhostFile,
    ghost_root: bytes,
    expected: Expected | None = None,
) -> VerifiedOutput:
    """Verify ``response`` against the anchored ``ghost_root`` and its ``ghost`` file.

    Returns the verifier's own output when every check holds; raises RootMismatchError if the
    ghost file is not the anchored one, ReceiptError for a wrong model/root/signature or a
    field that differs from ``expected``, MultiproofError for columns not in the
    commitment, ProofError for wrong arithmetic or an unusable input.
    """
    check_anchor(ghost, ghost_root)
    if expected is not None:
        check_expected(response, expected)
    if response.ghost_root != ghost_root:
        raise ReceiptError(
            f"response is for ghostRoot {to_hex(response.ghost_root)}, not {to_hex(ghost_root)}"
        )
    specs = ghost.header.layers
    if len(response.layers) != len(specs):
        raise ProofError(f"response has {len(response.layers)} layers, the model {len(specs)}")

    try:
        own_q = quantise_query(response.request.x, specs[0].d_in)
    except InputError as exc:
        raise ProofError(f"request input is unusable: {exc}", layer=0) from None
    y = np.zeros(0, dtype=np.int64)
    for i, (lp, spec) in enumerate(zip(response.layers, specs, strict=True)):
        check_layer_shape(i, lp, spec)
        check_query(i, lp.q, own_q)
        check_columns(i, lp, spec, ghost)
        result = layer_forward(lp.q, lp.key_columns, lp.value_rows, spec.logit_scale)
        if lp.tau != result.tau:
            raise ProofError(
                f"claimed threshold τ={lp.tau} is not the lowest selected score {result.tau}", layer=i
            )
        y = result.output
        own_q = requantise(y)
    if response.output.shape != y.shape or not np.array_equal(response.output, y):
        raise ProofError(_output_mismatch(response.output, y))

    signer = recover_signer(response.digest(), response.signature)
    if signer.lower() != response.prover.lower():
        raise ReceiptError(f"receipt is signed by {signer}, not by the named prover {response.prover}")
    return VerifiedOutput(
        output=y,
        prover=signer,
        selections=tuple(lp.selected for lp in response.layers),
        thresholds=tuple(lp.tau for lp in response.layers),
        value_scale=specs[-1].s_v,
    )


def check_query(i: int, claimed: np.ndarray, own: np.ndarray) -> None:
    """Raise ProofError unless layer ``i``'s claimed query equals the verifier's own exactly:
    the quantised request input at layer 0, the requantised previous output after."""
    if np.array_equal(claimed, own):
        return
    j = int(np.flatnonzero(claimed != own)[0])
    what = "the quantised input" if i == 0 else f"the requantised output of layer {i - 1}"
    raise ProofError(
        f"claimed query differs from {what} at element {j} ({int(claimed[j])} ≠ {int(own[j])})",
        layer=i,
    )


def _output_mismatch(claimed: np.ndarray, own: np.ndarray) -> str:
    if claimed.shape != own.shape:
        return f"claimed output has {claimed.size} elements, expected {own.size}"
    j = int(np.flatnonzero(claimed != own)[0])
    return f"claimed output differs from the recomputed one at element {j} ({claimed[j]} ≠ {own[j]})"


