"""CreditEscrow on both chains: deposits, vouchers (replay, over-spend, wrong signer, wrong
epoch), withdrawal delay, a deposit cancelling a pending withdrawal, redeeming during and after
a withdrawal, channel epochs, events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ghostproof.adapters.chain.escrow import (
    channel,
    deposit,
    redeem,
    request_withdrawal,
    voucher_for,
    withdraw,
)
from ghostproof.protocol.errors import TransactionRevertedError, VoucherError
from ghostproof.protocol.voucher import check_voucher, sign_voucher
from tests.fixtures.chain import PARAMS, Env, event_args, reverts

DEPOSIT = 1000


def _channel(env: Env, amount: int = DEPOSIT):
    client = env.new_account(credits=amount)
    prover = env.new_account()
    deposit(env.chain, env.deployment, client, prover.address, amount)
    return client, prover


def _signed(env: Env, client, prover, amount: int, signer=None):
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, amount)
    return v, sign_voucher(v, (signer or client).key)


def _close(env: Env, client, prover) -> None:
    """Request a withdrawal, wait out the delay and withdraw: the channel's epoch ends."""
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s + 1)
    withdraw(env.chain, env.deployment, client, prover.address)


def _balance(env: Env, address: str) -> int:
    return env.contract("GhostCredit").functions.balanceOf(address).call()


def test_deposit_funds_channel(env: Env) -> None:
    client, prover = _channel(env)
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.withdrawable_at, state.epoch) == (DEPOSIT, 0, 0, 0)


def test_deposit_emits_event(env: Env) -> None:
    client = env.new_account(credits=10)
    prover = env.new_account(eth=0)
    receipt = deposit(env.chain, env.deployment, client, prover.address, 10)
    args = event_args(env.contract("CreditEscrow"), "Deposited", receipt)
    assert (args["client"], args["prover"], args["epoch"], args["amount"], args["deposited"]) == (
        client.address, prover.address, 0, 10, 10,
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
    assert (args["epoch"], args["amount"], args["cumulativeAmount"]) == (0, 300, 300)
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
    args = event_args(env.contract("CreditEscrow"), "Withdrawn", receipt)
    assert (args["amount"], args["nextEpoch"]) == (DEPOSIT - 250, 1)
    assert _balance(env, client.address) == DEPOSIT - 250
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.withdrawable_at, state.epoch) == (0, 0, 0, 1)


def test_redeem_during_withdrawal_request(env: Env) -> None:
    client, prover = _channel(env)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s - 60)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, DEPOSIT))
    assert _balance(env, prover.address) == DEPOSIT


def test_invalid_redeem_after_withdrawal(env: Env) -> None:
    client, prover = _channel(env)
    voucher = _signed(env, client, prover, 400)
    _close(env, client, prover)
    with reverts("CreditEscrowWrongEpoch", 0, 1):
        redeem(env.chain, env.deployment, prover, *voucher)


def test_invalid_redeem_closed_epoch_voucher_against_new_deposit(env: Env) -> None:
    """Security review 9: after a full withdrawal, an old unredeemed voucher must not draw on a
    new deposit (the old contract paid it: the channel had no epoch)."""
    client, prover = _channel(env)
    old = _signed(env, client, prover, 400)
    _close(env, client, prover)
    assert _balance(env, client.address) == DEPOSIT
    deposit(env.chain, env.deployment, client, prover.address, DEPOSIT)
    with reverts("CreditEscrowWrongEpoch", 0, 1):
        redeem(env.chain, env.deployment, prover, *old)
    # the same voucher re-signed for the current epoch is what redeems now
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 400))
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.epoch) == (DEPOSIT, 400, 1)


def test_invalid_redeem_old_epoch_voucher_signed_for_current_amounts(env: Env) -> None:
    """Changing only the epoch of a voucher breaks its signature: the epoch is signed."""
    client, prover = _channel(env)
    _close(env, client, prover)
    deposit(env.chain, env.deployment, client, prover.address, DEPOSIT)
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, 10, epoch=0)
    forged = replace(v, epoch=1)
    with pytest.raises(TransactionRevertedError) as info:
        redeem(env.chain, env.deployment, prover, forged, sign_voucher(v, client.key))
    assert info.value.error == "CreditEscrowBadSignature"


def test_redeemed_restarts_per_epoch(env: Env) -> None:
    client, prover = _channel(env)
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 600))
    _close(env, client, prover)
    assert _balance(env, client.address) == DEPOSIT - 600
    deposit(env.chain, env.deployment, client, prover.address, DEPOSIT - 600)
    # 100 is below the previous epoch's 600 and still new in this epoch
    redeem(env.chain, env.deployment, prover, *_signed(env, client, prover, 100))
    assert _balance(env, prover.address) == 700
    state = channel(env.chain, env.deployment, client.address, prover.address)
    assert (state.deposited, state.redeemed, state.epoch) == (DEPOSIT - 600, 100, 1)


def test_invalid_withdraw_armed_before_deposit(env: Env) -> None:
    """Security review 7: a withdrawal armed on an empty channel and waited out must not let
    the client deposit, spend vouchers and withdraw everything at once; the deposit cancels it."""
    client = env.new_account(credits=DEPOSIT)
    prover = env.new_account()
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s + 1)
    deposit(env.chain, env.deployment, client, prover.address, DEPOSIT)
    voucher = _signed(env, client, prover, 600)
    with reverts("CreditEscrowNoWithdrawalRequested", client.address, prover.address):
        withdraw(env.chain, env.deployment, client, prover.address)
    redeem(env.chain, env.deployment, prover, *voucher)
    assert _balance(env, prover.address) == 600


def test_deposit_cancels_pending_withdrawal(env: Env) -> None:
    client, prover = _channel(env)
    env.send(env.owner, env.contract("GhostCredit").functions.mint(client.address, 5))
    at = event_args(env.contract("CreditEscrow"), "WithdrawalRequested", request_withdrawal(
        env.chain, env.deployment, client, prover.address))["withdrawableAt"]
    receipt = deposit(env.chain, env.deployment, client, prover.address, 5)
    args = event_args(env.contract("CreditEscrow"), "WithdrawalCancelled", receipt)
    assert (args["client"], args["prover"], args["withdrawableAt"]) == (
        client.address, prover.address, at,
    )
    assert channel(env.chain, env.deployment, client.address, prover.address).withdrawable_at == 0


def test_withdraw_after_deposit_needs_a_full_new_delay(env: Env) -> None:
    """After a deposit cancels it, a new request waits the whole delay again."""
    client, prover = _channel(env)
    env.send(env.owner, env.contract("GhostCredit").functions.mint(client.address, 5))
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(PARAMS.withdrawal_delay_s - 60)
    deposit(env.chain, env.deployment, client, prover.address, 5)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    env.chain.advance_time(120)
    with reverts("CreditEscrowWithdrawalTooEarly"):
        withdraw(env.chain, env.deployment, client, prover.address)


def test_deposit_without_pending_withdrawal_emits_no_cancel(env: Env) -> None:
    from web3.logs import DISCARD

    client, prover = _channel(env)
    env.send(env.owner, env.contract("GhostCredit").functions.mint(client.address, 5))
    receipt = deposit(env.chain, env.deployment, client, prover.address, 5)
    events = env.contract("CreditEscrow").events.WithdrawalCancelled()
    assert events.process_receipt(receipt, errors=DISCARD) == ()


def test_node_check_refuses_voucher_when_withdrawal_is_due(env: Env) -> None:
    """The prover's check on live chain state: vouchers are fine while a pending withdrawal
    leaves time to redeem, refused once it falls due within the redeem margin."""
    client, prover = _channel(env)
    request_withdrawal(env.chain, env.deployment, client, prover.address)
    state = channel(env.chain, env.deployment, client.address, prover.address)
    v, sig = _signed(env, client, prover, 100)
    margin = 600

    def check(now: int) -> int:
        return check_voucher(v, sig, prover=prover.address, escrow=env.deployment.escrow,
                             chain_id=env.chain.chain_id, channel=state, now=now, margin=margin)

    assert env.now() < state.withdrawable_at - margin
    assert check(env.now()) == 100
    assert check(state.withdrawable_at - margin - 1) == 100
    with pytest.raises(VoucherError, match="withdrawal falls due"):
        check(state.withdrawable_at - margin)


def test_voucher_digest_matches_python(env: Env) -> None:
    client, prover = env.new_account(eth=0), env.new_account(eth=0)
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, 12345, epoch=7)
    onchain = env.contract("CreditEscrow").functions.voucherDigest(
        client.address, prover.address, 7, 12345
    ).call()
    assert bytes(onchain) == v.digest()


def test_voucher_for_reads_channel_epoch(env: Env) -> None:
    client, prover = _channel(env)
    _close(env, client, prover)
    v = voucher_for(env.chain, env.deployment, client.address, prover.address, 1)
    assert v.epoch == 1


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
