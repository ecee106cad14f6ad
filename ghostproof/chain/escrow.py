"""CreditEscrow client: deposit, redeem a voucher, request and make a withdrawal, read a channel.

Used by the client wallet (deposit, withdraw), the prover service (channel state, redeem)
and the tests. Vouchers themselves are protocol/voucher.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from protocol.voucher import Voucher

from .deployment import Deployment, contract
from .errors import InsufficientFundsError
from .provider import Chain
from .registry import approve_credits, credit_balance
from .tx import call, transact


@dataclass(frozen=True)
class ChannelState:
    """One channel client→prover as the escrow holds it."""

    deposited: int
    redeemed: int
    withdrawable_at: int

    @property
    def available(self) -> int:
        """Credits still redeemable by the prover."""
        return self.deposited - self.redeemed


def channel(chain: Chain, deployment: Deployment, client: str, prover: str) -> ChannelState:
    """The channel from ``client`` to ``prover``."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    deposited, redeemed, at = call(chain, escrow.functions.channel(client, prover), "channel")
    return ChannelState(int(deposited), int(redeemed), int(at))


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


def voucher_for(chain: Chain, deployment: Deployment, client: str, prover: str, amount: int) -> Voucher:
    """A voucher for this deployment's escrow on ``chain``."""
    return Voucher(client, prover, amount, chain.chain_id, deployment.escrow)


def redeem(
    chain: Chain, deployment: Deployment, prover: LocalAccount, voucher: Voucher, signature: bytes
) -> TxReceipt:
    """Redeem ``voucher`` (signed by its client) as ``prover``."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    fn = escrow.functions.redeem(voucher.client, voucher.cumulative_amount, signature)
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
