"""A proven answer (DESIGN §3) as data: the request, each layer's proof, the response and the
receipt digest its signature covers.

Frozen data classes only; the encodings live beside them: protocol/response_json.py (the
JSON form, docs/PROTOCOL.md §8.1) and protocol/response_wire.py (the binary wire form, §8.2).
Both encode the selected indices the same way (:func:`delta_encode`, here). Used by the
prover (builds responses), the verifier (checks them) and the codecs. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .receipt import output_hash, receipt_digest, request_hash, selection_hash

#: |τ| ≤ 127² · 2^16 < 2^31: a threshold always fits an int32.
MAX_TAU_ABS = (1 << 31) - 1


@dataclass(frozen=True, eq=False)
class Request:
    """What a client asks: an input vector for a model, with a nonce of its choosing."""

    model_id: int
    x: np.ndarray  # float32, 1-D
    nonce: bytes  # 32 bytes

    @property
    def hash(self) -> bytes:
        """requestHash (protocol/receipt.py)."""
        return request_hash(self.model_id, self.nonce, self.x)


@dataclass(frozen=True, eq=False)
class LayerProof:
    """One layer of an answer: claimed query, selected indices, revealed columns, multiproofs."""

    q: np.ndarray  # int8 (d_in,)
    tau: int  # the lowest exact score in the selection (int32)
    selected: tuple[int, ...]  # strictly increasing column indices
    key_columns: np.ndarray  # int8 (k, d_in), row i = column selected[i] of K
    value_rows: np.ndarray  # int8 (k, d_out), row i = row selected[i] of V
    key_proof: tuple[bytes, ...]
    value_proof: tuple[bytes, ...]


@dataclass(frozen=True, eq=False)
class Response:
    """A proven answer and its receipt (the prover's EIP-712 signature over it)."""

    request: Request
    ghost_root: bytes
    chain_id: int
    verifying_contract: str
    layers: tuple[LayerProof, ...]
    output: np.ndarray  # int64 (d_out,), the claimed exact final output (Q16, units of s_V)
    prover: str
    signature: bytes

    def digest(self) -> bytes:
        """The EIP-712 receipt digest this response's signature must cover."""
        return receipt_digest(
            chain_id=self.chain_id,
            verifying_contract=self.verifying_contract,
            model_id=self.request.model_id,
            ghost_root=self.ghost_root,
            request=self.request.hash,
            selection=selection_hash([(lp.q, lp.tau, lp.selected) for lp in self.layers]),
            output=output_hash(self.output),
        )


def delta_encode(indices: Sequence[int]) -> list[int]:
    """[i0, i1-i0, i2-i1, …] of strictly increasing indices (the selection in both encodings)."""
    return [int(i) - int(p) for i, p in zip(indices, [0, *indices[:-1]], strict=True)]


def delta_decode(deltas: Sequence[int], what: str = "selected") -> tuple[int, ...]:
    """Inverse of :func:`delta_encode`; FormatError unless every delta after the first is ≥ 1."""
    out: list[int] = []
    for i, d in enumerate(deltas):
        if not isinstance(d, int) or isinstance(d, bool) or d < (0 if i == 0 else 1):
            raise FormatError(f"{what} must be delta-encoded strictly increasing indices")
        out.append(d if i == 0 else out[-1] + d)
    return tuple(out)
