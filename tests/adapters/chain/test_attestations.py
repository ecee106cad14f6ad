"""GhostAttestations on real chains: tests/vectors/bls.json checked by the contract (both
chains), a registration and an aggregate with a non-signer on the embedded EVM, and on Anvil
(native pairings, fast) every refusal — each a valid call with one field changed: a proof of
possession of another key or for another address, a wrong signer, a wrong message, a stale
epoch, a non-signer that is not registered, a duplicate non-signer, an inflated count."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain import attestations as att
from ghostproof.adapters.chain.deployment import contract
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.protocol import bls
from ghostproof.protocol.errors import AttestationError
from tests.fixtures.chain import PARAMS, Env, event_args, make_ghost, reverts

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "bls.json").read_text(encoding="utf-8"))
_counter = iter(range(1000, 10**6))


@dataclass(frozen=True)
class Auditor:
    """A registered auditor: its account and BLS secret."""

    account: LocalAccount
    sk: int

    @property
    def pk1(self) -> bls.G1Point:
        return bls.public_key_g1(self.sk)

    @property
    def pk2(self) -> bls.G2Point:
        return bls.public_key_g2(self.sk)


def _c(env: Env) -> Any:
    return contract(env.chain, "GhostAttestations", env.deployment.attestations)


def _new_sk() -> int:
    return bls.secret_key_from_seed(next(_counter).to_bytes(32, "big"))


def _auditor(env: Env) -> Auditor:
    """A fresh account with a fresh BLS key, registered."""
    a = Auditor(env.new_account(), _new_sk())
    att.register_auditor(env.chain, env.deployment, a.account, a.sk)
    return a


def _model(env: Env) -> tuple[int, bytes]:
    """A freshly registered model: (id, ghostRoot)."""
    prover = env.new_account()
    mint_credits(env.chain, env.deployment, env.owner, prover.address, PARAMS.min_stake)
    ghost = make_ghost(1, next(_counter))
    reg = register_model(env.chain, env.deployment, prover, ghost.to_bytes(), ghost, price=1,
                         margin=0, stake=PARAMS.min_stake)
    return reg.model_id, ghost.ghost_root


def _signed(env: Env, a: Auditor, model_id: int, root: bytes, epoch: int) -> bls.SignedAttestation:
    message = bls.attestation_message(env.chain.chain_id, env.deployment.attestations,
                                      env.deployment.registry, model_id, root, epoch)
    return bls.SignedAttestation(env.chain.chain_id, env.deployment.attestations,
                                 env.deployment.registry, model_id, root, epoch, a.account.address,
                                 a.pk1, a.pk2, bls.sign(a.sk, message))


def _args(env: Env, signers: list[Auditor], model_id: int, root: bytes, epoch: int) -> list[Any]:
    """Valid submitAttestation arguments: every other registered auditor a non-signer."""
    mine = {bls.pubkey_hash(a.pk1) for a in signers}
    registered = att.registered_auditors(env.chain, env.deployment)
    others = [k for _, k in registered if bls.pubkey_hash(k) not in mine]
    message = bls.attestation_message(env.chain.chain_id, env.deployment.attestations,
                                      env.deployment.registry, model_id, root, epoch)
    return [model_id, epoch, bls.aggregate_g1(bls.sign(a.sk, message) for a in signers),
            bls.aggregate_g2(a.pk2 for a in signers), sorted(others, key=bls.pubkey_hash)]


# ---------------------------------------------------------------- both chains


def test_contract_reproduces_bls_vectors(env: Env) -> None:
    c = _c(env)
    for case in VECTORS["hashToG1"]:
        point = c.functions.hashToG1(bytes.fromhex(case["message"][2:])).call()
        assert bls.g1_to_json((point[0], point[1])) == case["point"]
    agg = VECTORS["aggregate"]
    message = bytes.fromhex(agg["message"][2:])
    pk1, pk2 = bls.g1_from_json(agg["pubkeyG1"]), bls.g2_from_json(agg["pubkeyG2"])
    sigma = bls.g1_from_json(agg["signature"])
    assert c.functions.verifySignature(message, pk1, pk2, sigma).call()
    single = bls.g1_from_json(VECTORS["signatures"][0]["signature"])  # one signer's, not the sum
    assert not c.functions.verifySignature(message, pk1, pk2, single).call()


def test_contract_messages_match_python(env: Env) -> None:
    c = _c(env)
    root, epoch = b"\x42" * 32, 123
    assert bytes(c.functions.attestationMessage(9, root, epoch).call()) == bls.attestation_message(
        env.chain.chain_id, env.deployment.attestations, env.deployment.registry, 9, root, epoch)
    pk = bls.public_key_g1(5)
    assert bytes(c.functions.possessionMessage(env.owner.address, pk).call()) == bls.possession_message(
        env.chain.chain_id, env.deployment.attestations, env.owner.address, pk)


def test_register_and_submit_with_a_non_signer(env: Env) -> None:
    c = _c(env)
    before = int(c.functions.auditorCount().call())
    apk_before = tuple(c.functions.aggregateKey().call())
    a, b = _auditor(env), _auditor(env)
    assert int(c.functions.auditorCount().call()) == before + 2
    assert tuple(c.functions.aggregateKey().call()) == bls.aggregate_g1([apk_before, a.pk1, b.pk1])
    assert att.key_of(env.chain, env.deployment, a.account.address) == (bls.pubkey_hash(a.pk1), True)
    model_id, root = _model(env)
    epoch = att.current_epoch(env.chain, env.deployment)
    signed = [_signed(env, a, model_id, root, epoch)]
    sub = att.submit_attestations(env.chain, env.deployment, env.owner, signed)
    assert (sub.signers, sub.auditors, sub.non_signers) == (1, before + 2, before + 1)
    status = att.read_attestation(env.chain, env.deployment, model_id)
    assert (status.signers, status.auditors, status.epoch, status.ghost_root) == (1, before + 2, epoch, root)
    assert status.current and "1 of" in status.line()


# ---------------------------------------------------------------- Anvil: registration


def test_register_event(anvil_env: Env) -> None:
    env, c = anvil_env, _c(anvil_env)
    a = Auditor(env.new_account(), _new_sk())
    receipt = att.register_auditor(env.chain, env.deployment, a.account, a.sk)
    args = event_args(c, "AuditorRegistered", receipt)
    assert args["auditor"] == a.account.address
    assert bytes(args["pubkeyHash"]) == bls.pubkey_hash(a.pk1)
    assert args["auditors"] == c.functions.auditorCount().call()


def _register_args(env: Env, account: LocalAccount, sk: int) -> list[Any]:
    pk1 = bls.public_key_g1(sk)
    message = bls.possession_message(env.chain.chain_id, env.deployment.attestations, account.address, pk1)
    return [pk1, bls.public_key_g2(sk), bls.sign(sk, message)]


def test_register_refuses_possession_by_another_key(anvil_env: Env) -> None:
    env = anvil_env
    acct, sk = env.new_account(), _new_sk()
    args = _register_args(env, acct, sk)
    args[2] = _register_args(env, acct, _new_sk())[2]
    with reverts("GhostAttestationsBadPossession", acct.address, bls.pubkey_hash(args[0])):
        env.send(acct, _c(env).functions.register(*args))


def test_register_refuses_possession_made_for_another_address(anvil_env: Env) -> None:
    env = anvil_env
    victim, thief, sk = env.new_account(), env.new_account(), _new_sk()
    with reverts("GhostAttestationsBadPossession"):
        env.send(thief, _c(env).functions.register(*_register_args(env, victim, sk)))


def test_register_refuses_g2_half_of_another_key(anvil_env: Env) -> None:
    env = anvil_env
    acct, sk, other = env.new_account(), _new_sk(), _new_sk()
    args = _register_args(env, acct, sk)
    args[1] = bls.public_key_g2(other)
    with reverts("GhostAttestationsBadPossession"):
        env.send(acct, _c(env).functions.register(*args))


def test_register_refuses_rogue_key(anvil_env: Env) -> None:
    """The rogue-key attack: register pk_rogue = x·G1 − pk_honest so the pair aggregates to x·G1.
    The attacker knows no secret of pk_rogue, so it has no proof of possession to give."""
    env = anvil_env
    honest = _auditor(env)
    acct, x = env.new_account(), _new_sk()
    rogue = bls.aggregate_g1([bls.public_key_g1(x), bls.negate_g1(honest.pk1)])
    message = bls.possession_message(env.chain.chain_id, env.deployment.attestations, acct.address, rogue)
    with reverts("GhostAttestationsBadPossession"):
        env.send(acct, _c(env).functions.register(rogue, bls.public_key_g2(x), bls.sign(x, message)))


def test_register_twice_key_taken_and_zero_key(anvil_env: Env) -> None:
    env, c = anvil_env, _c(anvil_env)
    a = _auditor(env)
    with pytest.raises(AttestationError, match="already has the registered BLS key"):
        att.register_auditor(env.chain, env.deployment, a.account, _new_sk())
    with reverts("GhostAttestationsAlreadyRegistered", a.account.address, bls.pubkey_hash(a.pk1)):
        env.send(a.account, c.functions.register(*_register_args(env, a.account, _new_sk())))
    other = env.new_account()
    with reverts("GhostAttestationsKeyTaken", bls.pubkey_hash(a.pk1), a.account.address):
        env.send(other, c.functions.register(*_register_args(env, other, a.sk)))
    with reverts("GhostAttestationsZeroKey"):
        env.send(other, c.functions.register(bls.ZERO_G1, bls.ZERO_G2, bls.ZERO_G1))


def test_deregister(anvil_env: Env) -> None:
    env, c = anvil_env, _c(anvil_env)
    a, b, _ = _auditor(env), _auditor(env), _auditor(env)
    count, apk = int(c.functions.auditorCount().call()), tuple(c.functions.aggregateKey().call())
    receipt = att.deregister_auditor(env.chain, env.deployment, a.account)
    assert event_args(c, "AuditorDeregistered", receipt)["auditors"] == count - 1
    assert tuple(c.functions.aggregateKey().call()) == bls.aggregate_g1([apk, bls.negate_g1(a.pk1)])
    assert att.key_of(env.chain, env.deployment, a.account.address) == (bls.pubkey_hash(a.pk1), False)
    keys = [k for _, k in att.registered_auditors(env.chain, env.deployment)]
    assert a.pk1 not in keys and b.pk1 in keys and len(keys) == count - 1
    with reverts("GhostAttestationsNotAuditor", a.account.address):
        att.deregister_auditor(env.chain, env.deployment, a.account)
    with reverts("GhostAttestationsKeyTaken"):  # a withdrawn key is never reused
        env.send(a.account, c.functions.register(*_register_args(env, a.account, a.sk)))
    model_id, root = _model(env)
    args = _args(env, [b], model_id, root, att.current_epoch(env.chain, env.deployment))
    args[4] = [a.pk1]  # the withdrawn key as the one non-signer
    with reverts("GhostAttestationsUnknownNonSigner", 0, bls.pubkey_hash(a.pk1)):
        env.send(env.owner, c.functions.submitAttestation(*args))


# ---------------------------------------------------------------- Anvil: submissions


@pytest.fixture(scope="module")
def trio(anvil_env: Env) -> list[Auditor]:
    """Three registered auditors shared by the submission tests."""
    return [_auditor(anvil_env) for _ in range(3)]


@pytest.fixture()
def fresh(anvil_env: Env, trio: list[Auditor]) -> tuple[Env, Any, int, bytes, int]:
    """(env, contract, a fresh model id, its ghostRoot, the current epoch)."""
    model_id, root = _model(anvil_env)
    return anvil_env, _c(anvil_env), model_id, root, att.current_epoch(anvil_env.chain, anvil_env.deployment)


def test_submit_all_but_one_and_event(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    receipt = env.send(env.owner, c.functions.submitAttestation(*_args(env, trio[:2], model_id, root, epoch)))
    args = event_args(c, "AttestationRecorded", receipt)
    total = int(c.functions.auditorCount().call())
    assert (args["modelId"], args["epoch"], bytes(args["ghostRoot"]), args["signers"], args["auditors"]) == (
        model_id, epoch, root, 2, total)
    assert args["submitter"] == env.owner.address


def test_submit_refuses_wrong_signer(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    args = _args(env, trio[:2], model_id, root, epoch)
    outsider = Auditor(env.new_account(), _new_sk())  # not registered: its signature replaces trio[1]'s
    good = _args(env, [trio[0], outsider], model_id, root, epoch)
    args[2], args[3] = good[2], good[3]
    with reverts("GhostAttestationsBadSignature", model_id, root, epoch):
        env.send(env.owner, c.functions.submitAttestation(*args))


def test_submit_refuses_wrong_message(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    args = _args(env, trio, model_id, root, epoch)
    args[2] = _args(env, trio, model_id + 1, root, epoch)[2]  # signed for another model
    with reverts("GhostAttestationsBadSignature"):
        env.send(env.owner, c.functions.submitAttestation(*args))
    args[2] = _args(env, trio, model_id, b"\x01" * 32, epoch)[2]  # for another ghostRoot
    with reverts("GhostAttestationsBadSignature"):
        env.send(env.owner, c.functions.submitAttestation(*args))


def test_submit_refuses_g2_aggregate_of_another_set(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    args = _args(env, trio, model_id, root, epoch)
    args[3] = bls.aggregate_g2(a.pk2 for a in trio[:2])
    with reverts("GhostAttestationsBadSignature"):
        env.send(env.owner, c.functions.submitAttestation(*args))


def test_submit_refuses_stale_epoch(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    with reverts("GhostAttestationsWrongEpoch", epoch - 1, epoch):
        env.send(env.owner, c.functions.submitAttestation(*_args(env, trio, model_id, root, epoch - 1)))
    with reverts("GhostAttestationsWrongEpoch", epoch + 1, epoch):
        env.send(env.owner, c.functions.submitAttestation(*_args(env, trio, model_id, root, epoch + 1)))


def test_submit_refuses_unregistered_non_signer(fresh, trio: list[Auditor]) -> None:
    """The inflation attack: pass X = the honest non-signers' summed key as one 'non-signer',
    so apk − X is the attacker's own key alone, sign with it and claim everyone but one."""
    env, c, model_id, root, epoch = fresh
    args = _args(env, trio[:1], model_id, root, epoch)
    lump = bls.aggregate_g1(args[4])
    args[4] = [lump]
    with reverts("GhostAttestationsUnknownNonSigner", 0, bls.pubkey_hash(lump)):
        env.send(env.owner, c.functions.submitAttestation(*args))


def test_submit_refuses_duplicate_and_unsorted_non_signers(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    args = _args(env, trio[:2], model_id, root, epoch)  # trio[2] at least does not sign
    non = args[4]
    args[4] = [non[0], *non]  # one key subtracted twice
    with reverts("GhostAttestationsNonSignersNotSorted", 1, bls.pubkey_hash(non[0])):
        env.send(env.owner, c.functions.submitAttestation(*args))
    args = _args(env, trio[:1], model_id, root, epoch)  # at least two non-signers
    non = args[4]
    args[4] = [non[1], non[0], *non[2:]]
    with reverts("GhostAttestationsNonSignersNotSorted", 1, bls.pubkey_hash(non[0])):
        env.send(env.owner, c.functions.submitAttestation(*args))


def test_submit_refuses_no_signers_and_unknown_model(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    everyone = sorted((k for _, k in att.registered_auditors(env.chain, env.deployment)), key=bls.pubkey_hash)
    with reverts("GhostAttestationsNoSigners", len(everyone)):
        env.send(env.owner, c.functions.submitAttestation(model_id, epoch, bls.ZERO_G1, bls.ZERO_G2,
                                                          everyone))
    with reverts("GhostRegistryUnknownModel"):
        env.send(env.owner, c.functions.submitAttestation(*_args(env, trio, 10**9, root, epoch)))


def test_more_signers_replace_fewer_and_not_the_reverse(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    env.send(env.owner, c.functions.submitAttestation(*_args(env, trio[:2], model_id, root, epoch)))
    with reverts("GhostAttestationsNotMore", model_id, epoch, 2, 2):
        env.send(env.owner, c.functions.submitAttestation(*_args(env, trio[1:], model_id, root, epoch)))
    env.send(env.owner, c.functions.submitAttestation(*_args(env, trio, model_id, root, epoch)))
    assert att.read_attestation(env.chain, env.deployment, model_id).signers == 3


def test_new_epoch_needs_new_signatures(fresh, trio: list[Auditor]) -> None:
    env, c, model_id, root, epoch = fresh
    env.send(env.owner, c.functions.submitAttestation(*_args(env, trio, model_id, root, epoch)))
    old = [_signed(env, a, model_id, root, epoch) for a in trio]
    env.chain.advance_time(PARAMS.attestation_epoch_s)
    status = att.read_attestation(env.chain, env.deployment, model_id)
    assert status.epoch == epoch and not status.current and "the chain is at epoch" in status.line()
    with reverts("GhostAttestationsWrongEpoch", epoch, epoch + 1):
        att.submit_attestations(env.chain, env.deployment, env.owner, old)
    one = _signed(env, trio[0], model_id, root, epoch + 1)  # fewer signers, but a later epoch
    assert att.submit_attestations(env.chain, env.deployment, env.owner, [one]).signers == 1
    status = att.read_attestation(env.chain, env.deployment, model_id)
    assert (status.signers, status.epoch, status.current) == (1, epoch + 1, True)


def test_adapter_names_the_bad_signature(fresh, trio: list[Auditor]) -> None:
    env, _, model_id, root, epoch = fresh
    good = [_signed(env, a, model_id, root, epoch) for a in trio]
    bad = replace(good[1], signature=good[0].signature)
    with pytest.raises(AttestationError, match=f"bad signature from {trio[1].account.address}"):
        att.submit_attestations(env.chain, env.deployment, env.owner, [good[0], bad, good[2]])


def test_adapter_refuses_unregistered_and_duplicate_signers(fresh, trio: list[Auditor]) -> None:
    env, _, model_id, root, epoch = fresh
    outsider = Auditor(env.new_account(eth=0), _new_sk())
    with pytest.raises(AttestationError, match=r"not .* registered key"):
        att.submit_attestations(env.chain, env.deployment, env.owner,
                                [_signed(env, outsider, model_id, root, epoch)])
    twice = _signed(env, trio[0], model_id, root, epoch)
    with pytest.raises(AttestationError, match="two signatures"):
        att.submit_attestations(env.chain, env.deployment, env.owner, [twice, twice])
    other = _signed(env, trio[1], model_id + 1, root, epoch)
    with pytest.raises(AttestationError, match="different models"):
        att.submit_attestations(env.chain, env.deployment, env.owner, [twice, other])
