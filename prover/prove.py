"""prove(x): select with HNSW, re-rank exactly, reveal the k columns with multiproofs, sign.

The computation is pure given the model, the retrievers and the key; the node service and
the CLI wrap it with limits, payment checks and I/O. Given the model's registered selection
margin, a selection the node cannot stand behind is refused before anything is signed
(prover/margin.py, docs/SAFETY.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from eth_account import Account

from ghostproof.protocol.errors import GhostproofError, InputError
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.layer import check_vector, layer_forward, quantise_query, requantise
from ghostproof.protocol.merkle import multiproofs
from ghostproof.protocol.receipt import ZERO_ADDRESS
from ghostproof.protocol.response import LayerProof, Request, Response
from ghostproof.protocol.signing import sign_digest

from .commit import CommittedModel
from .index import ExactRetriever, Retriever, select_candidates
from .margin import check_selection

#: Candidates re-ranked per layer, in multiples of k; with HNSW also the least search breadth
#: (ef). docs/SAFETY.md: 64 (n = ef = 2048 at k = 32) left none of 10^4 honest answers
#: challengeable at the 0.05·F margin floor, at N = 10^5 and 10^6; 4 left 2–10 %.
DEFAULT_CANDIDATES_FACTOR = 64


def check_domain(model_id: int, chain_id: int, verifying_contract: str) -> None:
    """Raise InputError (FormatError for the address) unless the receipt domain is signable:
    uint256 model and chain ids, a 20-byte hex contract address."""
    for what, value in (("model id", model_id), ("chain id", chain_id)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 256:
            raise InputError(f"{what} must be an unsigned 256-bit integer, got {value!r}")
    from_hex(verifying_contract, "verifying contract", 20)


class Prover:
    """Answers queries for one committed model with proofs and signed receipts."""

    def __init__(
        self,
        model: CommittedModel,
        private_key: bytes,
        retrievers: Sequence[Retriever] | None = None,
        *,
        model_id: int = 0,
        chain_id: int = 0,
        verifying_contract: str = ZERO_ADDRESS,
        candidates_factor: int = DEFAULT_CANDIDATES_FACTOR,
        selection_margin: int | None = None,
    ):
        """``retrievers`` gives one per layer (default: exact search, for small models).

        Each layer re-ranks min(N, max(candidates_factor · k, the retriever's ``ef`` if it has
        one)) candidates exactly: hnswlib searches with max(ef, n), so the whole search beam
        is re-ranked (it costs n·d multiply-adds, far less than the search) and the
        candidates reach as far below τ as the search did.
        ``selection_margin`` is the model's registered margin: with it, prove() refuses a
        selection :func:`prover.margin.check_selection` rejects; None checks nothing.
        """
        if not isinstance(candidates_factor, int) or candidates_factor < 1:
            raise InputError(f"candidates_factor must be a positive integer, got {candidates_factor!r}")
        if selection_margin is not None and not 0 <= selection_margin < 1 << 32:
            raise InputError(f"the selection margin must fit a uint32, got {selection_margin!r}")
        check_domain(model_id, chain_id, verifying_contract)
        self.model = model
        self._key = private_key
        self.address = Account.from_key(private_key).address
        self.retrievers = list(retrievers) if retrievers is not None else [
            ExactRetriever(layer.keys) for layer in model.layers
        ]
        self.model_id = model_id
        self.chain_id = chain_id
        self.verifying_contract = verifying_contract
        self.candidates_factor = candidates_factor
        self.selection_margin = selection_margin

    def prove(self, x: np.ndarray, nonce: bytes | None = None) -> Response:
        """Forward ``x`` through every layer and return the proven, signed response.

        Raises InputError for an input of the wrong length, not real numbers, with NaN/inf,
        beyond the float32 range, or all zeros (also once rounded to float32);
        UnsafeSelectionError (nothing signed) when a layer's selection fails the margin check.
        ``prove_batch([x], [nonce])`` with its error raised (the same code path).
        """
        (result,) = self.prove_batch([x], [nonce])
        if isinstance(result, GhostproofError):
            raise result
        return result

    def prove_batch(
        self, xs: Sequence[np.ndarray], nonces: Sequence[bytes | None] | None = None
    ) -> list[Response | GhostproofError]:
        """Prove several queries at once: element i is what ``prove(xs[i], nonces[i])``
        returns, or the GhostproofError it raises (a bad input or an unsafe selection fails
        its own query only; nothing is signed for it).

        Per layer, the queries still alive are searched together — one ``search_batch``
        (hnswlib's multi-threaded ``knn_query``) when the layer's retriever has one and
        there are several; the search of one query does not depend on the others — then
        each is re-ranked, checked, revealed with its multiproofs and forwarded exactly as
        alone (:meth:`_layer`). ``nonces`` (default: all None) must match ``xs`` in length;
        a None nonce is drawn at random. Errors other than GhostproofError (bugs) propagate.
        """
        nonces = list(nonces) if nonces is not None else [None] * len(xs)
        if len(nonces) != len(xs):
            raise InputError(f"{len(xs)} inputs but {len(nonces)} nonces")
        states = [self._start(x, nonce) for x, nonce in zip(xs, nonces, strict=True)]
        last = len(self.model.layers) - 1
        for i in range(last + 1):
            live = [(j, s) for j, s in enumerate(states) if isinstance(s, _Pass)]
            found = self._retrievers_for(i, [s for _, s in live])
            for (j, state), retriever in zip(live, found, strict=True):
                try:
                    state.advance(*self._layer(i, state.q, retriever), last=i == last)
                except GhostproofError as exc:
                    states[j] = exc
        return [self._sign(s) if isinstance(s, _Pass) else s for s in states]

    def _n_candidates(self, i: int) -> int:
        """How many candidates layer ``i`` re-ranks (see :meth:`__init__`)."""
        spec = self.model.layers[i].spec
        beam = int(getattr(self.retrievers[i], "ef", 0))
        return min(spec.n, max(self.candidates_factor * spec.k, spec.k, beam))

    def _start(self, x: np.ndarray, nonce: bytes | None) -> _Pass | GhostproofError:
        """A query's checked request and layer-0 query, or the InputError its input raises."""
        spec0 = self.model.layers[0].spec
        try:
            x64 = check_vector(x, spec0.d_in)  # real, finite, non-zero, of the right length
            with np.errstate(over="ignore", under="ignore"):
                x32 = x64.astype(np.float32)
            if not np.all(np.isfinite(x32)):
                raise InputError("input has values outside the float32 range")
            q = quantise_query(x32, spec0.d_in)
        except GhostproofError as exc:
            return exc
        request = Request(self.model_id, x32, nonce if nonce is not None else secrets.token_bytes(32))
        return _Pass(request, q)

    def _retrievers_for(self, i: int, live: list[_Pass]) -> list[Retriever]:
        """One retriever per live query for layer ``i``: its row of one batch search when the
        layer's retriever has ``search_batch`` and there are several queries (and the batch
        search succeeds), else the layer's retriever itself (each query searched alone, and
        a failed search failing only its own query)."""
        retriever = self.retrievers[i]
        search_batch = getattr(retriever, "search_batch", None)
        if len(live) < 2 or search_batch is None:
            return [retriever] * len(live)
        n = max(self._n_candidates(i), self.model.layers[i].spec.k)  # as select_candidates asks
        try:
            rows = search_batch(np.stack([s.q for s in live]), n)
        except GhostproofError:
            return [retriever] * len(live)
        return [_Found(row, retriever.dim) for row in rows]

    def _layer(self, i: int, q: np.ndarray, retriever: Retriever) -> tuple[LayerProof, np.ndarray]:
        """Layer ``i`` for the int8 query ``q`` with candidates from ``retriever``: the exact
        re-rank, the margin check (UnsafeSelectionError), the revealed columns and their
        multiproofs, the forward. Returns the layer's proof and its output y (int64)."""
        layer = self.model.layers[i]
        spec = layer.spec
        selection = select_candidates(retriever, q, layer.keys, spec.k, self._n_candidates(i))
        check_selection(selection, self.selection_margin, i)
        sel = [int(j) for j in selection.ids]
        key_cols = np.asarray(layer.keys[sel])
        value_rows = np.asarray(layer.values[sel])
        key_proof, value_proof = multiproofs(self.model.trees[i], sel)
        result = layer_forward(q, key_cols, value_rows, spec.logit_scale)
        proof = LayerProof(
            q=q,
            tau=result.tau,
            selected=tuple(sel),
            key_columns=key_cols,
            value_rows=value_rows,
            key_proof=tuple(key_proof),
            value_proof=tuple(value_proof),
        )
        return proof, result.output

    def _sign(self, state: _Pass) -> Response:
        """The response of a query that passed every layer, with the prover's signature."""
        unsigned = Response(
            request=state.request,
            ghost_root=self.model.ghost_root,
            chain_id=self.chain_id,
            verifying_contract=self.verifying_contract,
            layers=tuple(state.proofs),
            output=state.y,
            prover=self.address,
            signature=bytes(65),
        )
        signature = sign_digest(unsigned.digest(), self._key)
        return replace(unsigned, signature=signature)


@dataclass(eq=False)
class _Pass:
    """One query on its way through the layers: its request, the next layer's int8 query
    ``q``, the layers proven so far and the last output ``y``."""

    request: Request
    q: np.ndarray
    proofs: list[LayerProof] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def advance(self, proof: LayerProof, y: np.ndarray, *, last: bool = False) -> None:
        """Record one layer's proof and output; requantise the output for the next layer
        (not after the ``last``: nothing reads it)."""
        self.proofs.append(proof)
        self.y = y
        if not last:
            self.q = requantise(y)


class _Found:
    """A retriever that hands back one query's candidates from a batch search: its ids row,
    best-first (scores are not used: :func:`select_candidates` re-ranks exactly)."""

    def __init__(self, ids: np.ndarray, dim: int) -> None:
        self._ids = np.asarray(ids, dtype=np.int64)
        self.dim = dim

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored candidates (the batch search asked for the same ``n``)."""
        return self._ids[:n], np.zeros(min(n, self._ids.size))
