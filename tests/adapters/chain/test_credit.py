"""GhostCredit on both chains: buying, minting, proceeds, and their revert paths."""

from __future__ import annotations

from tests.fixtures.chain import PARAMS, Env, event_args, reverts


def test_buy_mints_at_rate(env: Env) -> None:
    buyer = env.new_account()
    token = env.contract("GhostCredit")
    receipt = env.send(buyer, token.functions.buy(), value=1000)
    args = event_args(token, "CreditsBought", receipt)
    assert (args["weiPaid"], args["credits"]) == (1000, 1000 * PARAMS.credits_per_wei)
    assert token.functions.balanceOf(buyer.address).call() == 1000 * PARAMS.credits_per_wei


def test_invalid_buy_without_eth(env: Env) -> None:
    buyer = env.new_account()
    with reverts("GhostCreditNothingToBuy", 0):
        env.send(buyer, env.contract("GhostCredit").functions.buy())


def test_mint_by_owner(env: Env) -> None:
    to = env.new_account(eth=0)
    token = env.contract("GhostCredit")
    env.send(env.owner, token.functions.mint(to.address, 42))
    assert token.functions.balanceOf(to.address).call() == 42


def test_invalid_mint_not_owner(env: Env) -> None:
    other = env.new_account()
    with reverts("OwnableUnauthorizedAccount", other.address):
        env.send(other, env.contract("GhostCredit").functions.mint(other.address, 1))


def test_withdraw_proceeds(env: Env) -> None:
    token = env.contract("GhostCredit")
    env.send(env.new_account(), token.functions.buy(), value=5000)
    sink = env.new_account(eth=0)
    held = env.chain.w3.eth.get_balance(token.address)
    receipt = env.send(env.owner, token.functions.withdrawProceeds(sink.address))
    assert event_args(token, "ProceedsWithdrawn", receipt)["amount"] == held
    assert env.chain.w3.eth.get_balance(sink.address) == held


def test_invalid_withdraw_proceeds_not_owner(env: Env) -> None:
    other = env.new_account()
    with reverts("OwnableUnauthorizedAccount", other.address):
        env.send(other, env.contract("GhostCredit").functions.withdrawProceeds(other.address))
