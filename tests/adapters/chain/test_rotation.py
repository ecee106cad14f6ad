"""Model versions (DESIGN §10): the prover rotates a model's ghostRoot in one transaction; every
version's root stays registered, so a receipt signed under an old one stays challengeable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ghostproof.adapters.chain.registry import (
    find_version,
    ghost_cid_of,
    read_model,
    read_rotations,
    retire_model,
    rotate_root,
    version_root,
)
from ghostproof.adapters.storage.layout import read_ghost_bytes
from ghostproof.protocol.chunks import cid_for_bytes
from ghostproof.protocol.errors import ChallengeError, UnknownModelError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.verifier.challenge import build_evidence, find_skips, plan_challenge, send_challenge
from tests.fixtures.chain import Env, reverts
from tests.verifier.test_challenge import Case, _case

PROOF_CID = cid_for_bytes(b"an update proof")


def _next_version(ghost: GhostFile, tag: str) -> tuple[bytes, GhostFile]:
    """A different ghost file (another name, so another ghostRoot) standing for a new version."""
    new = GhostFile(replace(ghost.header, name=f"{ghost.header.name}-{tag}"), ghost.roots)
    return new.to_bytes(), new


@pytest.fixture
def case(env: Env, tmp_path: Path) -> Case:
    """A fresh registered model on each chain."""
    return _case(env, tmp_path)


def test_rotation_keeps_every_version(case: Case) -> None:
    env = case.env
    ghost0 = case.md.ghost
    first = [_next_version(ghost0, "v1"), _next_version(ghost0, "v2")]
    rotations = [rotate_root(env.chain, env.deployment, case.prover, case.model_id, b, g, PROOF_CID)
                 for b, g in first]
    assert [r.version for r in rotations] == [1, 2] and rotations[1].old_root == first[0][1].ghost_root
    assert 0 < rotations[0].gas_used < 100_000
    model = read_model(env.chain, env.deployment, case.model_id)
    assert model.version == 2 and model.ghost_root == first[1][1].ghost_root
    assert model.ghost_cid == cid_for_bytes(first[1][0])
    roots = [version_root(env.chain, env.deployment, case.model_id, v) for v in range(3)]
    assert roots == [ghost0.ghost_root, first[0][1].ghost_root, first[1][1].ghost_root]
    assert [find_version(env.chain, env.deployment, model, r) for r in roots] == [0, 1, 2]
    assert find_version(env.chain, env.deployment, model, b"\x01" * 32) is None
    listed = read_rotations(env.chain, env.deployment, case.model_id)
    assert [(r.version, r.update_proof_cid) for r in listed] == [(1, PROOF_CID), (2, PROOF_CID)]
    v1_root = first[0][1].ghost_root
    assert ghost_cid_of(env.chain, env.deployment, model, v1_root) == cid_for_bytes(first[0][0])
    assert ghost_cid_of(env.chain, env.deployment, model, ghost0.ghost_root) == cid_for_bytes(
        read_ghost_bytes(case.md.path)[0])
    with pytest.raises(UnknownModelError):
        ghost_cid_of(env.chain, env.deployment, model, b"\x02" * 32)
    with reverts("GhostRegistryUnknownVersion", case.model_id, 3, 2):
        version_root(env.chain, env.deployment, case.model_id, 3)


def test_old_version_receipt_stays_challengeable(case: Case) -> None:
    env = case.env
    response = case.answer()  # cheated, under version 0
    rotate_root(env.chain, env.deployment, case.prover, case.model_id, *_next_version(case.md.ghost, "v1"),
                PROOF_CID)
    plan = plan_challenge(env.chain, env.deployment, response, case.weights(), case.challenger.address)
    assert plan.evidence is not None and plan.evidence.version == 0
    wrong = replace(plan.evidence, version=1)  # the receipt's root is not version 1's
    with reverts("GhostRegistryWrongGhostRoot"):
        from ghostproof.adapters.chain.challenge import challenge_gas

        challenge_gas(env.chain, env.deployment, case.challenger.address, wrong)
    assert send_challenge(env.chain, env.deployment, case.challenger, plan).reward > 0


def test_invalid_rotations(case: Case) -> None:
    env, ghost = case.env, case.md.ghost
    b, g = _next_version(ghost, "x")
    with reverts("GhostRegistryNotProver"):
        rotate_root(env.chain, env.deployment, case.challenger, case.model_id, b, g, PROOF_CID)
    with reverts("GhostRegistryRootUnchanged", case.model_id, ghost.ghost_root):
        rotate_root(env.chain, env.deployment, case.prover, case.model_id, ghost.to_bytes(), ghost, PROOF_CID)
    retire_model(env.chain, env.deployment, case.prover, case.model_id)
    with reverts("GhostRegistryRetired", case.model_id):
        rotate_root(env.chain, env.deployment, case.prover, case.model_id, b, g, PROOF_CID)


def test_receipt_under_unknown_root_is_not_challengeable(case: Case) -> None:
    env = case.env
    response = case.answer()
    b, g = _next_version(case.md.ghost, "v1")
    rotate_root(env.chain, env.deployment, case.prover, case.model_id, b, g, PROOF_CID)
    alien = replace(response, ghost_root=b"\x05" * 32)
    with pytest.raises(ChallengeError, match="no version of model"):
        plan_challenge(env.chain, env.deployment, alien, case.weights(), case.challenger.address)
    skip = find_skips([response], case.weights())[0][0]
    assert build_evidence(response, skip, case.weights(), 0).version == 0
