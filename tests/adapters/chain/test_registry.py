"""GhostRegistry on both chains: every function, every revert path, every event."""

from __future__ import annotations

import hashlib

import pytest

from ghostproof.adapters.chain.registry import (
    cid_from_digest,
    read_model,
    register_model,
)
from ghostproof.protocol.chunks import cid_for_bytes
from tests.fixtures.chain import PARAMS, Env, event_args, make_ghost, reverts

STAKE = PARAMS.min_stake


def _registered(env: Env, seed: int = 0, n_layers: int = 2):
    prover = env.new_account(credits=STAKE)
    ghost = make_ghost(n_layers, seed)
    reg = register_model(
        env.chain, env.deployment, prover, ghost.to_bytes(), ghost, price=7, margin=3, stake=STAKE
    )
    return prover, ghost, reg


def _register_fn(env: Env, root: bytes = b"\x11" * 32, cid: bytes = b"\x22" * 32, stake=STAKE):
    return env.contract("GhostRegistry").functions.register(root, cid, 5, 1, stake)


def test_register_stores_model(env: Env) -> None:
    prover, ghost, reg = _registered(env)
    model = read_model(env.chain, env.deployment, reg.model_id)
    assert model.ghost_root == ghost.ghost_root
    assert model.ghost_cid == cid_for_bytes(ghost.to_bytes())
    assert (model.prover, model.price, model.margin, model.stake) == (prover.address, 7, 3, STAKE)
    assert model.active


def test_register_emits_event(env: Env) -> None:
    prover = env.new_account(credits=STAKE)
    registry = env.contract("GhostRegistry")
    env.send(prover, env.contract("GhostCredit").functions.approve(registry.address, STAKE))
    receipt = env.send(prover, _register_fn(env))
    args = event_args(registry, "ModelRegistered", receipt)
    assert args["prover"] == prover.address
    assert args["ghostRoot"] == b"\x11" * 32
    assert (args["pricePerQuery"], args["selectionMargin"], args["stake"]) == (5, 1, STAKE)


def test_register_pulls_stake(env: Env) -> None:
    prover, _, _ = _registered(env)
    token = env.contract("GhostCredit")
    assert token.functions.balanceOf(prover.address).call() == 0


def test_register_ids_increase(env: Env) -> None:
    _, _, first = _registered(env, seed=1)
    _, _, second = _registered(env, seed=2)
    assert second.model_id == first.model_id + 1
    assert env.contract("GhostRegistry").functions.modelCount().call() >= second.model_id


def test_cid_digest_roundtrip() -> None:
    data = b"ghost file bytes"
    assert cid_from_digest(hashlib.sha256(data).digest()) == cid_for_bytes(data)


def test_invalid_register_zero_root(env: Env) -> None:
    prover = env.new_account(credits=STAKE)
    with reverts("GhostRegistryZeroRoot"):
        env.send(prover, _register_fn(env, root=bytes(32)))


def test_invalid_register_zero_cid(env: Env) -> None:
    prover = env.new_account(credits=STAKE)
    with reverts("GhostRegistryZeroCid"):
        env.send(prover, _register_fn(env, cid=bytes(32)))


def test_invalid_register_stake_too_low(env: Env) -> None:
    prover = env.new_account(credits=STAKE)
    with reverts("GhostRegistryStakeTooLow", STAKE - 1, STAKE):
        env.send(prover, _register_fn(env, stake=STAKE - 1))


def test_invalid_register_without_allowance(env: Env) -> None:
    prover = env.new_account(credits=STAKE)
    registry = env.contract("GhostRegistry").address
    with reverts("ERC20InsufficientAllowance", registry, 0, STAKE):
        env.send(prover, _register_fn(env))


def test_update_price(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    receipt = env.send(prover, registry.functions.updatePrice(reg.model_id, 99))
    args = event_args(registry, "PriceUpdated", receipt)
    assert (args["modelId"], args["oldPrice"], args["newPrice"]) == (reg.model_id, 7, 99)
    assert read_model(env.chain, env.deployment, reg.model_id).price == 99


def test_invalid_update_price_not_prover(env: Env) -> None:
    prover, _, reg = _registered(env)
    other = env.new_account()
    with reverts("GhostRegistryNotProver", reg.model_id, other.address, prover.address):
        env.send(other, env.contract("GhostRegistry").functions.updatePrice(reg.model_id, 1))


def test_invalid_update_price_unknown_model(env: Env) -> None:
    other = env.new_account()
    with reverts("GhostRegistryUnknownModel", 10**9):
        env.send(other, env.contract("GhostRegistry").functions.updatePrice(10**9, 1))


def test_invalid_update_price_retired(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(prover, registry.functions.retire(reg.model_id))
    with reverts("GhostRegistryRetired", reg.model_id):
        env.send(prover, registry.functions.updatePrice(reg.model_id, 1))


def test_add_stake(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(env.owner, env.contract("GhostCredit").functions.mint(prover.address, 5))
    env.send(prover, env.contract("GhostCredit").functions.approve(registry.address, 5))
    receipt = env.send(prover, registry.functions.addStake(reg.model_id, 5))
    assert event_args(registry, "StakeAdded", receipt)["stake"] == STAKE + 5
    assert read_model(env.chain, env.deployment, reg.model_id).stake == STAKE + 5


def test_invalid_add_stake_zero(env: Env) -> None:
    prover, _, reg = _registered(env)
    with reverts("GhostRegistryZeroAmount"):
        env.send(prover, env.contract("GhostRegistry").functions.addStake(reg.model_id, 0))


def test_retire_emits_event(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    receipt = env.send(prover, registry.functions.retire(reg.model_id))
    ends = event_args(registry, "ModelRetired", receipt)["unbondingEndsAt"]
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert ends == block["timestamp"] + PARAMS.unbonding_period_s
    model = read_model(env.chain, env.deployment, reg.model_id)
    assert not model.active and model.unbonding_ends_at == ends


def test_invalid_retire_twice(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(prover, registry.functions.retire(reg.model_id))
    with reverts("GhostRegistryRetired", reg.model_id):
        env.send(prover, registry.functions.retire(reg.model_id))


def test_invalid_withdraw_stake_while_active(env: Env) -> None:
    prover, _, reg = _registered(env)
    with reverts("GhostRegistryStillActive", reg.model_id):
        env.send(prover, env.contract("GhostRegistry").functions.withdrawStake(reg.model_id))


def test_invalid_withdraw_stake_not_prover(env: Env) -> None:
    prover, _, reg = _registered(env)
    other = env.new_account()
    with reverts("GhostRegistryNotProver", reg.model_id, other.address, prover.address):
        env.send(other, env.contract("GhostRegistry").functions.withdrawStake(reg.model_id))


def test_invalid_withdraw_stake_while_unbonding(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(prover, registry.functions.retire(reg.model_id))
    with reverts("GhostRegistryUnbonding"):
        env.send(prover, registry.functions.withdrawStake(reg.model_id))


def test_withdraw_stake_after_unbonding(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(prover, registry.functions.retire(reg.model_id))
    env.chain.advance_time(PARAMS.unbonding_period_s + 1)
    receipt = env.send(prover, registry.functions.withdrawStake(reg.model_id))
    assert event_args(registry, "StakeWithdrawn", receipt)["amount"] == STAKE
    assert env.contract("GhostCredit").functions.balanceOf(prover.address).call() == STAKE


def test_invalid_withdraw_stake_twice(env: Env) -> None:
    prover, _, reg = _registered(env)
    registry = env.contract("GhostRegistry")
    env.send(prover, registry.functions.retire(reg.model_id))
    env.chain.advance_time(PARAMS.unbonding_period_s + 1)
    env.send(prover, registry.functions.withdrawStake(reg.model_id))
    with reverts("GhostRegistryNothingStaked", reg.model_id):
        env.send(prover, registry.functions.withdrawStake(reg.model_id))


@pytest.mark.parametrize("model_id", [0, 10**9])
def test_invalid_get_model_unknown(env: Env, model_id: int) -> None:
    with reverts("GhostRegistryUnknownModel", model_id):
        from ghostproof.adapters.chain.tx import call

        call(env.chain, env.contract("GhostRegistry").functions.getModel(model_id), "getModel")


# ---------------------------------------------------------------- binding checks (pure)

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def _model(active: bool = True, prover: str = A):
    from ghostproof.adapters.chain.registry import RegisteredModel

    return RegisteredModel(1, b"\x11" * 32, cid_from_digest(b"\x22" * 32), prover, 1, 0, STAKE, active, 0)


def test_check_active_accepts_active_model() -> None:
    from ghostproof.adapters.chain.registry import check_active

    check_active(_model())


def test_invalid_check_active_retired() -> None:
    from ghostproof.adapters.chain.registry import check_active
    from ghostproof.protocol.errors import ModelRetiredError, ProofError

    with pytest.raises(ModelRetiredError, match="retired") as info:
        check_active(_model(active=False))
    assert isinstance(info.value, ProofError)  # exit 1: the answer's model no longer stands
    check_active(_model(active=False), allow_retired=True)


def test_check_signer_ignores_case() -> None:
    from ghostproof.adapters.chain.registry import check_signer

    check_signer(_model(prover=A), A.upper().replace("0X", "0x"))


def test_invalid_check_signer_other_prover() -> None:
    from ghostproof.adapters.chain.registry import check_signer
    from ghostproof.protocol.errors import ProverMismatchError

    with pytest.raises(ProverMismatchError) as info:
        check_signer(_model(prover=A), B)
    assert A in str(info.value) and B in str(info.value)


def test_invalid_check_prover_key_other_key() -> None:
    from ghostproof.adapters.chain.registry import check_prover_key
    from ghostproof.protocol.errors import AccountError, NotRegisteredProverError

    check_prover_key(1, A, A)
    with pytest.raises(NotRegisteredProverError) as info:
        check_prover_key(1, A, B)
    assert isinstance(info.value, AccountError)  # exit 2: the user chose the wrong key
    assert A in str(info.value) and B in str(info.value)


def test_buy_credits_rounds_up(env: Env) -> None:
    from ghostproof.adapters.chain.registry import buy_credits, credit_balance

    buyer = env.new_account()
    minted, wei = buy_credits(env.chain, env.deployment, buyer, 2 * PARAMS.credits_per_wei + 1)
    assert wei == 3 and minted == 3 * PARAMS.credits_per_wei
    assert credit_balance(env.chain, env.deployment, buyer.address) == minted
