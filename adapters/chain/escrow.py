"""CreditEscrow client: deposit, redeem a voucher, request and make a withdrawal, read a channel.

Used by the client wallet (deposit, withdraw), the prover service (channel state, redeem)
and the tests. Vouchers and the channel state they are checked against are
protocol/voucher.py.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from ghostproof.protocol.errors import InsufficientFundsError
from ghostproof.protocol.voucher import ChannelState, Voucher

from .deployment import Deployment, contract
from .provider import Chain
from .registry import approve_credits, credit_balance
from .tx import call, transact

__all__ = [
    "ChannelState",
    "channel",
    "deposit",
    "redeem",
    "request_withdrawal",
    "voucher_for",
    "withdraw",
]


def channel(chain: Chain, deployment: Deployment, client: str, prover: str) -> ChannelState:
    """The channel from ``client`` to ``prover`` (deposited, redeemed, withdrawable_at, epoch)."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    deposited, redeemed, at, epoch = call(chain, escrow.functions.channel(client, prover), "channel")
    return ChannelState(int(deposited), int(redeemed), int(at), int(epoch))


def deposit(
    chain: Chain, deployment: Deployment, client: LocalAccount, prover: str, amount: int
) -> TxReceipt:
    """Approve and deposit ``amount`` credits from ``client`` into its channel to ``prover``."""
    held = credit_balance(chain, deployment, client.address)
    if held < amount:
        raise InsufficientFundsError(
            f"account {client.address} holds {held} credits, the deposit is {amount}"
        )
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    approve_credits(chain, deployment, client, deployment.escrow, amount)
    return transact(chain, client, escrow.functions.deposit(prover, amount), "deposit")


def voucher_for(
    chain: Chain,
    deployment: Deployment,
    client: str,
    prover: str,
    amount: int,
    *,
    epoch: int | None = None,
) -> Voucher:
    """A voucher for this deployment's escrow on ``chain``, in ``epoch`` (default: the
    channel's current epoch, read from the chain)."""
    if epoch is None:
        epoch = channel(chain, deployment, client, prover).epoch
    return Voucher(client, prover, epoch, amount, chain.chain_id, deployment.escrow)


def redeem(
    chain: Chain, deployment: Deployment, prover: LocalAccount, voucher: Voucher, signature: bytes
) -> TxReceipt:
    """Redeem ``voucher`` (signed by its client) as ``prover``."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    fn = escrow.functions.redeem(voucher.client, voucher.epoch, voucher.cumulative_amount, signature)
    return transact(chain, prover, fn, "redeem")


def request_withdrawal(
    chain: Chain, deployment: Deployment, client: LocalAccount, prover: str
) -> TxReceipt:
    """Start the withdrawal delay of ``client``'s channel to ``prover``."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    return transact(chain, client, escrow.functions.requestWithdrawal(prover), "requestWithdrawal")


def withdraw(chain: Chain, deployment: Deployment, client: LocalAccount, prover: str) -> TxReceipt:
    """Withdraw the unredeemed rest of ``client``'s channel to ``prover`` (after the delay)."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    return transact(chain, client, escrow.functions.withdraw(prover), "withdraw")
