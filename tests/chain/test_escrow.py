"""CreditEscrow on both chains: deposits, vouchers (replay, over-spend, wrong signer),
withdrawal delay, redeeming during and after a withdrawal, events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ghostproof.chain.errors import TransactionRevertedError
from ghostproof.chain.escrow import channel, deposit, redeem, request_withdrawal, voucher_for, withdraw
from protocol.voucher import sign_voucher

from .conftest import PARAMS, Env, event_args, reverts

DEPOSIT = 1000


def _channel(env: Env, amount: int = DEPOSIT):
    client = env.new_account(credits=amount)
    prover = env.new_account()
    deposit(env.chain, env.deployment, client, prover.address, amount)
    return client, prover


def _signed(env: Env, client, prover, amount: int, signer=None):
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, amount)
    return v, sign_voucher(v, (signer or client).key)


def _balance(env: Env, address: str) -> int:
    return env.contract("GhostCredit").functions.balanceOf(address).call()


def test_deposit_funds_channel(env: Env) -> None:
    client, prover = _channel(env)
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.withdrawable_at) == (DEPOSIT, 0, 0)


def test_deposit_emits_event(env: Env) -> None:
    client = env.new_account(credits=10)
    prover = env.new_account(eth=0)
    receipt = deposit(env.chain, env.deployment, client, prover.address, 10)
    args = event_args(env.contract("CreditEscrow"), "Deposited", receipt)
    assert (args["client"], args["prover"], args["amount"], args["deposited"]) == (
        client.address, prover.address, 10, 10,
    )


def test_invalid_deposit_zero(env: Env) -> None:
    client = env.new_account(credits=10)
    with reverts("CreditEscrowZeroAmount"):
        env.send(client, env.contract("CreditEscrow").functions.deposit(env.owner.address, 0))


def test_invalid_deposit_zero_prover(env: Env) -> None:
    client = env.new_account(credits=10)
    with reverts("CreditEscrowZeroProver"):
        env.send(client, env.contract("CreditEscrow").functions.deposit("0x" + "00" * 20, 5))


def test_redeem_pays_prover(env: Env) -> None:
    client, prover = _channel(env)
    v, sig = _signed(env, client, prover, 300)
    receipt = redeem(env.chain, env.deployment, prover, v, sig)
    args = event_args(env.contract("CreditEscrow"), "Redeemed", receipt)
    assert (args["amount"], args["cumulativeAmount"]) == (300, 300)
    assert _balance(env, prover.address) == 300


def test_redeem_pays_only_the_difference(env: Env) -> None:
    client, prover = _channel(env)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 300))
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 450))
    assert _balance(env, prover.address) == 450
    assert channel(env.chain, env.deployment, client.address, prover.address).redeemed == 450


def test_invalid_redeem_replay(env: Env) -> None:
    client, prover = _channel(env)
    v, sig = _signed(env, client, prover, 300)
    redeem(env.chain, env.deployment, prover, v, sig)
    with reverts("CreditEscrowVoucherNotNewer", 300, 300):
        redeem(env.chain, env.deployment, prover, v, sig)


def test_invalid_redeem_older_voucher(env: Env) -> None:
    client, prover = _channel(env)
    old = _signed(env, client, prover, 100)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 300))
    with reverts("CreditEscrowVoucherNotNewer", 100, 300):
        redeem(env.chain, env.deployment, prover, *old)


def test_invalid_redeem_overspend(env: Env) -> None:
    client, prover = _channel(env)
    with reverts("CreditEscrowOverspent", DEPOSIT + 1, DEPOSIT):
        redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, DEPOSIT + 1))


def test_invalid_redeem_wrong_signer(env: Env) -> None:
    client, prover = _channel(env)
    mallory = env.new_account(eth=0)
    with reverts("CreditEscrowBadSignature", mallory.address, client.address):
        redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 10, mallory))


def test_invalid_redeem_by_other_prover(env: Env) -> None:
    client, prover = _channel(env)
    other = env.new_account()
    v, sig = _signed(env, client, prover, 10)
    # the other prover's channel with this client is empty, so the voucher over-spends it
    with reverts("CreditEscrowOverspent", 10, 0):
        redeem(env.chain, env.deployment, other, v, sig)


def test_invalid_redeem_voucher_for_other_prover(env: Env) -> None:
    """The voucher binds its prover: another prover with a funded channel cannot use it."""
    client, prover = _channel(env)
    other = env.new_account()
    env.send(env.owner, env.contract("GhostCredit").functions.mint(client.address, DEPOSIT))
    deposit(env.chain, env.deployment, client, other.address, DEPOSIT)
    v, sig = _signed(env, client, prover, 10)
    with pytest.raises(TransactionRevertedError) as info:
        redeem(env.chain, env.deployment, other, v, sig)
    assert info.value.error == "CreditEscrowBadSignature"
    assert info.value.error_args[1] == client.address != info.value.error_args[0]


@pytest.mark.parametrize("field", ["escrow", "chain_id"])
def test_invalid_redeem_voucher_for_other_escrow_or_chain(env: Env, field: str) -> None:
    """A voucher signed for another escrow contract or another chain does not redeem here."""
    client, prover = _channel(env)
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, 10)
    other = replace(v, **{field: env.deployment.credit if field == "escrow" else v.chain_id + 1})
    with pytest.raises(TransactionRevertedError) as info:
        redeem(env.chain, env.deployment, prover, v, sign_voucher(other, client.key))
    assert info.value.error == "CreditEscrowBadSignature"
    assert info.value.error_args[1] == client.address != info.value.error_args[0]


def test_request_withdrawal_emits_event(env: Env) -> None:
    client, prover = _channel(env)
    receipt = request_withdrawal(env.chain, env.deployment, client, prover.address)
    at = event_args(env.contract("CreditEscrow"), "WithdrawalRequested", receipt)["withdrawableAt"]
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert at == block["timestamp"] + PARAMS.withdrawal_delay_s
    assert channel(env.chain, env.deployment, client.address, prover.address).withdrawable_at == at


def test_invalid_withdraw_without_request(env: Env) -> None:
    client, prover = _channel(env)
    with reverts("CreditEscrowNoWithdrawalRequested", client.address, prover.address):
        withdraw(env.chain, env.deployment, client, prover.address)


def test_invalid_withdraw_before_delay(env: Env) -> None:
    client, prover = _channel(env)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s // 2)
    with reverts("CreditEscrowWithdrawalTooEarly"):
        withdraw(env.chain, env.deployment, client, prover.address)


def test_withdraw_after_delay_returns_unredeemed(env: Env) -> None:
    client, prover = _channel(env)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 250))
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s + 1)
    receipt = withdraw(env.chain, env.deployment, client, prover.address)
    assert event_args(env.contract("CreditEscrow"), "Withdrawn", receipt)["amount"] == DEPOSIT - 250
    assert _balance(env, client.address) == DEPOSIT - 250
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.withdrawable_at) == (250, 250, 0)


def test_redeem_during_withdrawal_request(env: Env) -> None:
    client, prover = _channel(env)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s - 60)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, DEPOSIT))
    assert _balance(env, prover.address) == DEPOSIT


def test_invalid_redeem_after_withdrawal(env: Env) -> None:
    client, prover = _channel(env)
    voucher = _signed(env, client, prover, 400)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s + 1)
    withdraw(env.chain, env.deployment, client, prover.address)
    with reverts("CreditEscrowOverspent", 400, 0):
        redeem(env.chain, env.deployment, prover, *voucher)


def test_voucher_digest_matches_python(env: Env) -> None:
    client, prover = env.new_account(eth=0), env.new_account(eth=0)
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, 12345)
    onchain = env.contract("CreditEscrow").functions.voucherDigest(
        client.address, prover.address, 12345
    ).call()
    assert bytes(onchain) == v.digest()


def test_deposit_with_permit(env: Env) -> None:
    from eth_account.messages import encode_typed_data

    client = env.new_account(credits=50)
    prover = env.new_account(eth=0)
    token = env.contract("GhostCredit")
    deadline = env.now() + 3600
    permit = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "Ghost Credit",
            "version": "1",
            "chainId": env.chain.chain_id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": client.address,
            "spender": env.deployment.escrow,
            "value": 50,
            "nonce": token.functions.nonces(client.address).call(),
            "deadline": deadline,
        },
    }
    signed = client.sign_message(encode_typed_data(full_message=permit))
    fn = env.contract("CreditEscrow").functions.depositWithPermit(
        prover.address, 50, deadline, signed.v, signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
    )
    env.send(client, fn)
    assert channel(env.chain, env.deployment, client.address, prover.address).deposited == 50
