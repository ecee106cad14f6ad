"""Selection challenges end to end on both chains (DESIGN §6): a cheated answer verifies, the
challenge finds the skipped column and slashes once (half to the challenger, half burned);
an honest answer cannot be challenged; each check of GhostRegistry.challenge refuses
evidence with one field changed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import load_key_file
from ghostproof.adapters.chain.challenge import challenge_gas, submit_challenge
from ghostproof.adapters.chain.deployment import contract
from ghostproof.adapters.chain.registry import credit_balance, read_model, retire_model
from ghostproof.adapters.chain.tx import estimate
from ghostproof.protocol.challenge import ChallengeEvidence, best_skipped, exact_scores
from ghostproof.protocol.errors import ChallengeError
from ghostproof.protocol.response import Response
from ghostproof.protocol.signing import sign_digest
from ghostproof.prover.modeldir import ModelDir, write_model_dir
from ghostproof.prover.presets import synthetic_model
from ghostproof.verifier.challenge import (
    ModelWeights,
    build_evidence,
    find_skips,
    plan_challenge,
    send_challenge,
)
from ghostproof.verifier.verify import verify
from tests.fixtures.chain import PARAMS, Env, reverts
from tests.fixtures.cheat import cheating_prover, honest_prover

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass
class Case:
    """A registered two-layer model, its prover key and a funded challenger."""

    env: Env
    md: ModelDir
    prover: LocalAccount
    model_id: int
    challenger: LocalAccount

    def answer(self, i: int = 0, cheat: tuple[int, ...] | None = (0,)) -> Response:
        """The prover's answer to sample ``i``: cheating on layers ``cheat`` (None: honest)."""
        kw = {"model_id": self.model_id, "chain_id": self.env.chain.chain_id,
              "registry": self.env.deployment.registry}
        prover = (honest_prover(self.md.model, self.prover, **kw) if cheat is None
                  else cheating_prover(self.md.model, self.prover, cheat_layers=cheat, **kw))
        return prover.prove(np.asarray(self.md.sample(i), dtype=np.float32), nonce=bytes([i]) * 32)

    def weights(self) -> ModelWeights:
        """The model's weights from its directory."""
        return ModelWeights.from_dir(self.md.path)


def _case(env: Env, base: Path, seed: int = 5, margin: int = 0) -> Case:
    md = write_model_dir(base / "model", synthetic_model(200, 16, layers=2, k=4, seed=seed), index=False)
    prover = load_key_file(md.path / "prover.key")
    env.send_eth(prover.address, 10**18)
    model_id = env.register(md.path, prover, margin=margin)
    return Case(env, md, prover, model_id, env.new_account())


@pytest.fixture
def case(env: Env, tmp_path: Path) -> Case:
    """A fresh registered model on each chain (margin 0)."""
    return _case(env, tmp_path)


def test_cheated_answer_verifies_then_is_slashed_once(case: Case) -> None:
    env, response = case.env, case.answer()
    verify(response, case.md.ghost, case.md.ghost.ghost_root)  # the proof alone cannot tell
    weights = case.weights()
    plan = plan_challenge(env.chain, env.deployment, response, weights, case.challenger.address)
    assert plan.challengeable and plan.chosen.layer == 0 and plan.chosen.excess > 0
    assert plan.chosen.column not in response.layers[0].selected
    assert plan.gas is not None and plan.gas < 150_000
    credit = contract(env.chain, "GhostCredit", env.deployment.credit)
    supply = credit.functions.totalSupply().call()
    slash = send_challenge(env.chain, env.deployment, case.challenger, plan)
    assert (slash.reward, slash.burned) == (PARAMS.min_stake // 2, PARAMS.min_stake - PARAMS.min_stake // 2)
    assert (slash.layer, slash.column, slash.score, slash.tau) == (
        0, plan.chosen.column, plan.chosen.score, response.layers[0].tau)
    assert slash.receipt_digest == response.digest()
    assert credit_balance(env.chain, env.deployment, case.challenger.address) == slash.reward
    assert credit.functions.totalSupply().call() == supply - slash.burned
    model = read_model(env.chain, env.deployment, case.model_id)
    assert (model.stake, model.active, model.slashed) == (0, False, True)
    with pytest.raises(ChallengeError, match="already slashed"):
        plan_challenge(env.chain, env.deployment, response, weights, case.challenger.address)
    with reverts("GhostRegistryAlreadySlashed", case.model_id):
        submit_challenge(env.chain, env.deployment, case.challenger, plan.evidence)


def test_honest_answer_cannot_be_challenged(case: Case) -> None:
    env = case.env
    for i in range(3):
        response = case.answer(i, cheat=None)
        plan = plan_challenge(env.chain, env.deployment, response, case.weights(), case.challenger.address)
        assert not plan.challengeable and plan.evidence is None
        assert all(s.excess <= 0 for s in plan.skips)
        with pytest.raises(ChallengeError, match="selection stands"):
            send_challenge(env.chain, env.deployment, case.challenger, plan)
        forced = build_evidence(response, plan.chosen, case.weights())  # the best it skipped
        with reverts("GhostRegistrySelectionStands"):
            challenge_gas(env.chain, env.deployment, case.challenger.address, forced)


def test_cheat_on_a_later_layer_is_found_there(case: Case) -> None:
    response = case.answer(1, cheat=(1,))
    skips = find_skips([response], case.weights())[0]
    assert skips[0].excess <= 0 < skips[1].excess
    chain, dep = case.env.chain, case.env.deployment
    plan = plan_challenge(chain, dep, response, case.weights(), case.challenger.address)
    assert plan.chosen.layer == 1
    assert send_challenge(chain, dep, case.challenger, plan).layer == 1


def test_margin_protects_a_near_miss(env: Env, tmp_path: Path) -> None:
    probe = _case(env, tmp_path / "probe")
    excess = find_skips([probe.answer()], probe.weights())[0][0].excess
    case = _case(env, tmp_path / "wide", margin=excess)  # same model, margin = the excess
    response = case.answer()
    plan = plan_challenge(env.chain, env.deployment, response, case.weights(), case.challenger.address)
    assert plan.chosen.excess == excess and not plan.challengeable
    with reverts("GhostRegistrySelectionStands"):
        challenge_gas(env.chain, env.deployment, case.challenger.address,
                      build_evidence(response, plan.chosen, case.weights()))


def test_retired_model_is_slashable_until_unbonding_ends(env: Env, tmp_path: Path) -> None:
    early, late = _case(env, tmp_path / "a"), _case(env, tmp_path / "b")
    for c in (early, late):
        retire_model(env.chain, env.deployment, c.prover, c.model_id)
    plan = plan_challenge(env.chain, env.deployment, early.answer(), early.weights(), env.owner.address)
    assert send_challenge(env.chain, env.deployment, early.challenger, plan).reward > 0
    response = late.answer()
    evidence = build_evidence(response, find_skips([response], late.weights())[0][0], late.weights())
    env.chain.advance_time(PARAMS.unbonding_period_s + 1)
    with reverts("GhostRegistryChallengeWindowClosed"):
        challenge_gas(env.chain, env.deployment, late.challenger.address, evidence)
    with pytest.raises(ChallengeError, match="challenge window"):
        plan_challenge(env.chain, env.deployment, response, late.weights(), late.challenger.address)


# ---------------------------------------------------------------- one field changed


@pytest.fixture(scope="module")
def valid(embedded_env: Env, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, ChallengeEvidence]:
    """A registered model and valid evidence against a cheated answer (embedded chain);
    tests only dry-run changed copies, so it is never used up."""
    case = _case(embedded_env, tmp_path_factory.mktemp("valid"))
    response = case.answer()
    skip = find_skips([response], case.weights())[0][0]
    evidence = build_evidence(response, skip, case.weights())
    challenge_gas(embedded_env.chain, embedded_env.deployment, case.challenger.address, evidence)  # succeeds
    return case, evidence


def _other_signature(response: Response) -> bytes:
    return sign_digest(response.digest(), Account.create().key)


def _with_layer0(evidence: ChallengeEvidence, **changes: object) -> ChallengeEvidence:
    r = evidence.response
    return replace(evidence, response=replace(r, layers=(replace(r.layers[0], **changes), *r.layers[1:])))


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def _other_unselected(e: ChallengeEvidence) -> int:
    return next(j for j in range(200) if j != e.column and j not in e.response.layers[0].selected)


def _high_s(sig: bytes) -> bytes:
    """The same signature with s → n − s (and v flipped): valid for ecrecover, refused as high-s."""
    s = int.from_bytes(sig[32:64], "big")
    v = sig[64] ^ 1 if sig[64] in (0, 1) else 55 - sig[64]
    return sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


def _first_flipped(proof: tuple[bytes, ...]) -> tuple[bytes, ...]:
    return (_flip(proof[0]), *proof[1:])


def _byte_flipped(a: np.ndarray) -> np.ndarray:
    return np.concatenate([[a[0] ^ 1], a[1:]]).astype(np.int8)


def _resp(e: ChallengeEvidence, **changes: object) -> ChallengeEvidence:
    return replace(e, response=replace(e.response, **changes))


def _opening(e: ChallengeEvidence, **changes: object) -> ChallengeEvidence:
    return replace(e, opening=replace(e.opening, **changes))


NOT_SIGNED, BAD_PROOF = "GhostRegistryNotSignedByProver", "GhostRegistryBadColumnProof"
CHANGES = {
    "signed-by-another-key": (NOT_SIGNED, lambda e: _resp(e, signature=_other_signature(e.response))),
    "high-s-signature": ("GhostRegistryBadSignature",
                         lambda e: _resp(e, signature=_high_s(e.response.signature))),
    "tau-plus-one": (NOT_SIGNED, lambda e: _with_layer0(e, tau=e.response.layers[0].tau + 1)),
    "q-one-element": (NOT_SIGNED, lambda e: _with_layer0(e, q=_byte_flipped(e.response.layers[0].q))),
    "other-ghost-root": ("GhostRegistryWrongGhostRoot",
                         lambda e: _resp(e, ghost_root=_flip(e.response.ghost_root))),
    "column-is-selected": ("GhostRegistryColumnSelected",
                           lambda e: replace(e, column=e.response.layers[0].selected[0])),
    "column-byte": (BAD_PROOF, lambda e: replace(e, values=_byte_flipped(e.values))),
    "column-short": ("GhostRegistryColumnLength", lambda e: replace(e, values=e.values[:-1])),
    "column-index": (BAD_PROOF, lambda e: replace(e, column=_other_unselected(e))),
    "column-path-sibling": (BAD_PROOF, lambda e: replace(e, column_proof=_first_flipped(e.column_proof))),
    "column-path-short": (BAD_PROOF, lambda e: replace(e, column_proof=e.column_proof[:-1])),
    "key-root": ("GhostRegistryBadKeyRoot", lambda e: _opening(e, root=_flip(e.opening.root))),
    "header-hash": ("GhostRegistryBadKeyRoot",
                    lambda e: _opening(e, header_hash=_flip(e.opening.header_hash))),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_invalid_evidence_with_one_field_changed(name: str, valid: tuple[Case, ChallengeEvidence]) -> None:
    case, evidence = valid
    error, change = CHANGES[name]
    with reverts(error):
        challenge_gas(case.env.chain, case.env.deployment, case.challenger.address, change(evidence))


def test_invalid_layer_out_of_range(valid: tuple[Case, ChallengeEvidence]) -> None:
    case, evidence = valid
    receipt, claim, ev = evidence.contract_args()
    registry = contract(case.env.chain, "GhostRegistry", case.env.deployment.registry)
    bad_claim = (2, *claim[1:])
    with reverts("GhostRegistryLayerOutOfRange", 2, 2):
        fn = registry.functions.challenge(receipt, bad_claim, ev)
        estimate(case.env.chain, fn, case.challenger.address)


def test_invalid_selection_not_whole_indices(valid: tuple[Case, ChallengeEvidence]) -> None:
    case, evidence = valid
    receipt, claim, ev = evidence.contract_args()
    registry = contract(case.env.chain, "GhostRegistry", case.env.deployment.registry)
    bad_claim = (*claim[:3], claim[3][:-1], claim[4])  # the packed selection loses a byte
    with reverts("GhostRegistryBadSelectionLength", len(claim[3]) - 1):
        fn = registry.functions.challenge(receipt, bad_claim, ev)
        estimate(case.env.chain, fn, case.challenger.address)


def test_exact_scores_match_integer_arithmetic() -> None:
    rng = np.random.default_rng(0)
    for d in (16, 1032, 1100):
        keys = rng.integers(-128, 128, size=(70_000 if d == 16 else 300, d), dtype=np.int8)
        q = rng.integers(-127, 128, size=(3, d), dtype=np.int8)
        want = keys.astype(np.int64) @ q.T.astype(np.int64)
        assert np.array_equal(exact_scores(keys, q), want)


def test_batch_best_skipped_matches_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from ghostproof.protocol import challenge as ch

    monkeypatch.setattr(ch, "SCORE_BLOCK", 64)  # several blocks, ties across their edges
    rng = np.random.default_rng(1)
    keys = rng.integers(-2, 3, size=(300, 4), dtype=np.int8)  # many equal scores
    queries = rng.integers(-127, 128, size=(7, 4), dtype=np.int8)
    sels = [sorted(rng.choice(300, 5, replace=False)) for _ in range(7)]
    got = ch.best_skipped_batch(2, keys, queries, sels, list(range(7)))
    for b in range(7):
        one = best_skipped(2, exact_scores(keys, queries[b])[:, 0], sels[b], b)
        assert got[b] == one


def test_best_skipped_prefers_the_lower_index_on_ties() -> None:
    scores = np.array([5, 9, 9, 3, 9])
    assert best_skipped(0, scores, [], 4).column == 1
    best = best_skipped(0, scores, [1], 4)
    assert (best.column, best.score, best.excess) == (2, 9, 5)
    assert best.challengeable(4) and not best.challengeable(5)
    with pytest.raises(ValueError, match="nothing was skipped"):
        best_skipped(0, scores, [0, 1, 2, 3, 4], 4)
