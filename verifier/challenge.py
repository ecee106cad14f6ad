"""Challenge a wrong selection (DESIGN §6): from a kept answer and the model's weights, find
the best column each layer skipped and, when one beats the threshold by more than the
registered margin, build the evidence GhostRegistry.challenge checks and send it.

The weights come from a model directory or from a block store (every chunk checked against
its CID); either way each K matrix used is rebuilt into its Merkle tree and its root must
be the ghost file's, whose ghostRoot must be the one anchored on-chain. Light client:
numpy and the protocol's hashing, no prover code.

Used by ``ghostproof challenge`` and the watcher (verifier/watch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.challenge import Slash, challenge_gas, submit_challenge
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain, rpc_errors
from ghostproof.adapters.chain.registry import RegisteredModel, find_version, read_model
from ghostproof.adapters.storage.layout import GHOST_FILE, load_matrix, matrix_shape, read_ghost
from ghostproof.adapters.storage.store import BlockStore
from ghostproof.adapters.storage.transfer import chunk_what, fetch_ghost
from ghostproof.protocol.challenge import (
    ChallengeEvidence,
    SkippedColumn,
    best_skipped_batch,
    check_column_score,
)
from ghostproof.protocol.errors import ChallengeError, RootMismatchError, TransactionRevertedError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import leaf_hashes, to_hex
from ghostproof.protocol.merkle import MerkleTree, build_tree, multiproof
from ghostproof.protocol.receipt import recover_signer
from ghostproof.protocol.response import Response

#: The sender a dry run simulates when no account is given (any address but zero: the
#: reward transfer to address(0) would revert).
DRY_RUN_SENDER = "0x000000000000000000000000000000000000dEaD"


class ModelWeights:
    """The K matrices of one model, loaded on first use and each checked against the ghost
    file's layer root (so every column a challenge reveals is committed)."""

    def __init__(self, ghost: GhostFile, load_keys: Callable[[int], np.ndarray], source: str):
        """``load_keys(layer)`` returns layer's K as an (N, d_in) int8 array."""
        self.ghost = ghost
        self.source = source
        self._load_keys = load_keys
        self._keys: dict[int, np.ndarray] = {}
        self._trees: dict[int, MerkleTree] = {}

    @classmethod
    def from_dir(cls, model_dir: Path) -> ModelWeights:
        """The weights of a model directory (its matrices memory-mapped)."""
        ghost = read_ghost(Path(model_dir) / GHOST_FILE)
        return cls(ghost, lambda layer: load_matrix(model_dir, ghost, layer, "K"), str(model_dir))

    @classmethod
    def from_store(cls, store: BlockStore, ghost_cid: str, *, timeout: float | None = None) -> ModelWeights:
        """The weights of a published model, fetched from ``store`` chunk by chunk (each checked
        against its CID by the store) when a layer is first used."""
        _, ghost = fetch_ghost(store, ghost_cid, timeout=timeout)

        def load(layer: int) -> np.ndarray:
            keys = np.empty(matrix_shape(ghost, layer, "K"), dtype=np.int8)
            for ref in ghost.header.chunks:
                if ref.layer == layer and ref.matrix == "K":
                    data = store.get(ref.cid, timeout=timeout, what=chunk_what(ref))
                    rows = np.frombuffer(data, np.int8).reshape(ref.count, -1)
                    keys[ref.first : ref.first + ref.count] = rows
            return keys

        return cls(ghost, load, f"{ghost_cid} via {store.describe()}")

    def keys(self, layer: int) -> np.ndarray:
        """Layer ``layer``'s K columns, (N, d_in) int8; RootMismatchError unless they rebuild
        the ghost file's K root."""
        if layer not in self._keys:
            keys = np.asarray(self._load_keys(layer))
            tree = build_tree(leaf_hashes(layer, 0, keys))
            committed = self.ghost.layer_root(layer, "K")
            if tree.root != committed:
                raise RootMismatchError(
                    f"the K columns from {self.source} rebuild root {to_hex(tree.root)}, "
                    f"not the committed {to_hex(committed)}", layer=layer, matrix="K")
            self._keys[layer], self._trees[layer] = keys, tree
        return self._keys[layer]

    def tree(self, layer: int) -> MerkleTree:
        """The checked Merkle tree of layer ``layer``'s K."""
        self.keys(layer)
        return self._trees[layer]


def find_skips(responses: Sequence[Response], weights: ModelWeights) -> list[list[SkippedColumn]]:
    """For each response, the best skipped column of each of its layers.

    Scores every column of each layer for all responses at once (blocked matrix products,
    memory bounded by the block). Raises ChallengeError when a response has more layers than
    the model.
    """
    n_layers = len(weights.ghost.header.layers)
    found: list[list[SkippedColumn]] = [[] for _ in responses]
    depth = max((len(r.layers) for r in responses), default=0)
    if depth > n_layers:
        raise ChallengeError(f"an answer has {depth} layers, the model {n_layers}")
    for layer in range(depth):
        batch = [i for i, r in enumerate(responses) if layer < len(r.layers)]
        proofs = [responses[i].layers[layer] for i in batch]
        skips = best_skipped_batch(layer, weights.keys(layer), np.stack([lp.q for lp in proofs]),
                                   [lp.selected for lp in proofs], [lp.tau for lp in proofs])
        for i, skip in zip(batch, skips, strict=True):
            found[i].append(skip)
    return found


def worst_skip(skips: Sequence[SkippedColumn]) -> SkippedColumn:
    """The layer's skip with the largest excess over its threshold (the first on ties)."""
    return max(skips, key=lambda s: (s.excess, -s.layer))


def build_evidence(
    response: Response, skip: SkippedColumn, weights: ModelWeights, version: int = 0
) -> ChallengeEvidence:
    """The challenge evidence for ``skip`` of ``response`` (signed under model ``version``):
    the column, its Merkle path, and the layer's K root opened against the ghostRoot.
    Self-checks the column's score."""
    keys = weights.keys(skip.layer)
    values = np.asarray(keys[skip.column], dtype=np.int8)
    check_column_score(response.layers[skip.layer].q, values, skip.score)
    return ChallengeEvidence(
        response=response,
        layer=skip.layer,
        column=skip.column,
        values=values,
        column_proof=tuple(multiproof(weights.tree(skip.layer), [skip.column])),
        opening=weights.ghost.open_layer_root(skip.layer, "K"),
        version=version,
    )


def check_challengeable(
    response: Response, model: RegisteredModel, deployment: Deployment, now: int, version: int | None
) -> None:
    """ChallengeError unless a challenge of ``response`` could slash ``model``: the answer is
    for this chain and registry, names a ghostRoot the model has had (``version``, None when
    none), is signed by the registered prover, and the model still has a stake inside its
    challenge window."""
    registry = response.verifying_contract.lower()
    if response.chain_id != deployment.chain_id or registry != deployment.registry.lower():
        raise ChallengeError(
            f"the receipt is for registry {response.verifying_contract} on chain {response.chain_id}, "
            f"not {deployment.registry} on chain {deployment.chain_id}")
    if version is None:
        raise ChallengeError(
            f"the receipt names ghostRoot {to_hex(response.ghost_root)}, which no version of model "
            f"{model.model_id} has had (now {to_hex(model.ghost_root)}, version {model.version})")
    signer = recover_signer(response.digest(), response.signature)
    if signer.lower() != model.prover.lower():
        raise ChallengeError(
            f"the receipt was signed by {signer}, not model {model.model_id}'s prover {model.prover}")
    if model.slashed or model.stake == 0:
        raise ChallengeError(f"model {model.model_id} has no stake left to slash"
                             + (" (already slashed)" if model.slashed else ""))
    if not model.challenge_window_open(now):
        raise ChallengeError(
            f"model {model.model_id} retired and its unbonding period, the challenge window, "
            f"ended at {model.unbonding_ends_at}")


@dataclass(frozen=True)
class ChallengePlan:
    """What ``challenge`` found for one answer: every layer's best skipped column, the one it
    would use, the model's margin, and (when challengeable) the evidence and its gas."""

    model: RegisteredModel
    skips: tuple[SkippedColumn, ...]
    chosen: SkippedColumn
    evidence: ChallengeEvidence | None
    gas: int | None

    @property
    def challengeable(self) -> bool:
        """Whether the chosen skip beats the margin (a challenge would slash)."""
        return self.chosen.challengeable(self.model.margin)

    def summary(self) -> str:
        """One line: the verdict and the figures behind it."""
        c = self.chosen
        figures = f"layer {c.layer} column {c.column} scores {c.score}, τ {c.tau}, margin {self.model.margin}"
        if self.challengeable:
            return f"wrong selection: {figures} (excess {c.excess})"
        return f"selection stands: best skipped {figures}"


def plan_challenge(
    chain: Chain, deployment: Deployment, response: Response, weights: ModelWeights,
    sender: str, *, skips: Sequence[SkippedColumn] | None = None,
) -> ChallengePlan:
    """Read the model from the registry, check the answer can be challenged there (under the
    version whose root it names), find the best skipped column and, when it beats the margin,
    build the evidence and dry-run it (gas). ChallengeError when the registry would refuse
    (decoded revert in the message); RootMismatchError when ``weights`` are not the
    receipt's version's."""
    model = read_model(chain, deployment, response.request.model_id)
    version = find_version(chain, deployment, model, response.ghost_root)
    check_challengeable(response, model, deployment, _now(chain), version)
    if weights.ghost.ghost_root != response.ghost_root:
        raise RootMismatchError(
            f"the weights from {weights.source} have ghostRoot {to_hex(weights.ghost.ghost_root)}, "
            f"the receipt names {to_hex(response.ghost_root)} (model {model.model_id} version {version})")
    found = tuple(skips) if skips is not None else tuple(find_skips([response], weights)[0])
    chosen = worst_skip(found)
    if not chosen.challengeable(model.margin):
        return ChallengePlan(model, found, chosen, None, None)
    evidence = build_evidence(response, chosen, weights, version or 0)
    try:
        gas = challenge_gas(chain, deployment, sender, evidence)
    except TransactionRevertedError as exc:
        raise ChallengeError(f"the registry would refuse this challenge: {exc}") from exc
    return ChallengePlan(model, found, chosen, evidence, gas)


def _now(chain: Chain) -> int:
    """The latest block's timestamp: the time the challenge window is judged by."""
    with rpc_errors(chain):
        return int(chain.w3.eth.get_block("latest")["timestamp"])


def send_challenge(chain: Chain, deployment: Deployment, account: LocalAccount, plan: ChallengePlan) -> Slash:
    """Send the planned challenge from ``account``; ChallengeError when the plan finds the
    selection standing, or the registry refuses (decoded revert in the message)."""
    if plan.evidence is None:
        raise ChallengeError(plan.summary())
    try:
        return submit_challenge(chain, deployment, account, plan.evidence)
    except TransactionRevertedError as exc:
        raise ChallengeError(f"the registry refused the challenge: {exc}") from exc
