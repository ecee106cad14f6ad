"""The wallet's credits on the chain: balance, buy, deposit (with a permit, one transaction),
withdraw (request, then withdraw after the delay) and the status of its channels.

Every state change is a call of ghostproof.adapters.chain (registry, escrow); this module
decides what to do and reports it as plain data. ``signed`` comes from the wallet's ledger
(what the node may still redeem), the rest from the chain. Used by the ``credits`` and
``wallet balance`` commands and by ghostproof.verifier.wallet.wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address
from web3.logs import DISCARD

from ghostproof.adapters.chain import escrow
from ghostproof.adapters.chain.deployment import Deployment, check_deployment, contract, load_deployment
from ghostproof.adapters.chain.provider import Chain, connect, rpc_errors
from ghostproof.adapters.chain.registry import buy_credits, credit_balance
from ghostproof.protocol.errors import DeploymentError, InputError

from .ledger import ChannelKey, Ledger


def open_chain(rpc: str | None, deployment_file: Path | None) -> tuple[Chain, Deployment]:
    """The chain at ``rpc`` (else the deployment file's RPC) with the deployment checked on it
    (chain id, contract code). DeploymentError, WrongChainError, ChainUnreachableError."""
    deployment = load_deployment(deployment_file)
    url = rpc or deployment.rpc
    if url is None:
        raise DeploymentError("no --rpc given and the deployment file names no RPC")
    chain = connect(url)
    check_deployment(chain, deployment)
    return chain, deployment


def prover_address(text: str) -> str:
    """A prover address from the command line, checksummed; InputError otherwise."""
    if not isinstance(text, str) or not is_hex_address(text):
        raise InputError(f"--prover {text!r} is not an address")
    return to_checksum_address(text)


def chain_time(chain: Chain) -> int:
    """The timestamp of the latest block (the clock the escrow's delay runs on)."""
    with rpc_errors(chain):
        return int(chain.w3.eth.get_block("latest")["timestamp"])


@dataclass(frozen=True)
class Balance:
    """What an address holds: ETH (wei) and credits (base units, 18 decimals)."""

    address: str
    chain_id: int
    wei: int
    credits: int

    def to_json(self) -> dict[str, object]:
        """``wallet balance --json``."""
        return {"address": self.address, "chainId": self.chain_id, "wei": str(self.wei),
                "credits": str(self.credits)}


def balance(chain: Chain, deployment: Deployment, address: str) -> Balance:
    """ETH and credits held by ``address``."""
    with rpc_errors(chain):
        wei = int(chain.w3.eth.get_balance(address))
    return Balance(address, deployment.chain_id, wei, credit_balance(chain, deployment, address))


def buy(chain: Chain, deployment: Deployment, account: LocalAccount, units: int) -> dict[str, object]:
    """Buy ``units`` credit units for ETH (``credits buy --json``: account, credits, wei)."""
    minted, wei = buy_credits(chain, deployment, account, units)
    return {"account": account.address, "credits": str(minted), "wei": str(wei)}


@dataclass(frozen=True)
class ChannelStatus:
    """One channel as ``credits status`` shows it."""

    prover: str
    epoch: int
    deposited: int
    redeemed: int
    signed: int
    accepted: int
    withdrawable_at: int
    blocked: bool

    @property
    def left(self) -> int:
        """Credits the wallet may still sign over: the deposit less what it signed or the
        prover redeemed, whichever is more."""
        return max(0, self.deposited - max(self.signed, self.redeemed))

    def to_json(self) -> dict[str, object]:
        """One entry of ``credits status --json``'s ``channels``."""
        return {
            "prover": self.prover, "epoch": self.epoch, "deposited": str(self.deposited),
            "redeemed": str(self.redeemed), "signed": str(self.signed),
            "accepted": str(self.accepted), "left": str(self.left),
            "withdrawableAt": self.withdrawable_at,
            "withdrawalPending": self.withdrawable_at != 0, "blocked": self.blocked,
        }


def channel_status(
    chain: Chain, deployment: Deployment, ledger: Ledger, client: str, prover: str
) -> ChannelStatus:
    """The channel ``client``→``prover``: the chain's deposited, redeemed, epoch and pending
    withdrawal, with the ledger's signed and acknowledged amounts in that epoch."""
    state = escrow.channel(chain, deployment, client, prover)
    key = ChannelKey(deployment.chain_id, deployment.escrow, client, prover, state.epoch)
    record = ledger.channel(key)
    return ChannelStatus(
        prover=prover, epoch=state.epoch, deposited=state.deposited, redeemed=state.redeemed,
        signed=record.signed, accepted=record.accepted, withdrawable_at=state.withdrawable_at,
        blocked=ledger.blocked(deployment.chain_id, prover) is not None,
    )


def known_provers(deployment: Deployment, ledger: Ledger, client: str) -> list[str]:
    """The provers the ledger has channels with on this deployment, in order."""
    records = ledger.channels(deployment.chain_id, deployment.escrow, client)
    return list(dict.fromkeys(r.key.prover for r in records))


@dataclass(frozen=True)
class Deposit:
    """A deposit made: how much, the channel's total deposit and epoch after it."""

    prover: str
    amount: int
    deposited: int
    epoch: int
    cancelled_withdrawal: bool
    tx_hash: str
    gas_used: int

    def to_json(self) -> dict[str, object]:
        """``credits deposit --json``."""
        return {"prover": self.prover, "amount": str(self.amount), "deposited": str(self.deposited),
                "epoch": self.epoch, "cancelledWithdrawal": self.cancelled_withdrawal,
                "txHash": self.tx_hash, "gasUsed": self.gas_used}


def deposit(
    chain: Chain, deployment: Deployment, account: LocalAccount, prover: str, amount: int
) -> Deposit:
    """Deposit ``amount`` credits for ``prover`` with a permit, in one transaction (a pending
    withdrawal of the channel is cancelled: the delay must be waited again)."""
    if amount <= 0:
        raise InputError("the deposit must be more than 0 credits")
    receipt = escrow.deposit_with_permit(chain, deployment, account, prover, amount)
    contract_ = contract(chain, "CreditEscrow", deployment.escrow)
    cancelled = contract_.events.WithdrawalCancelled().process_receipt(receipt, errors=DISCARD)
    state = escrow.channel(chain, deployment, account.address, prover)
    return Deposit(prover, amount, state.deposited, state.epoch, bool(cancelled),
                   "0x" + bytes(receipt["transactionHash"]).hex(), int(receipt["gasUsed"]))


@dataclass(frozen=True)
class Withdrawal:
    """One step of a withdrawal: ``requested`` (the delay starts), ``pending`` (still
    waiting: nothing sent) or ``withdrawn`` (the rest paid back, the next epoch begun)."""

    prover: str
    action: str
    withdrawable_at: int
    now: int
    amount: int = 0
    epoch: int = 0

    def to_json(self) -> dict[str, object]:
        """``credits withdraw --json``."""
        return {"prover": self.prover, "action": self.action, "withdrawableAt": self.withdrawable_at,
                "chainTime": self.now, "amount": str(self.amount), "epoch": self.epoch}


def withdraw(chain: Chain, deployment: Deployment, account: LocalAccount, prover: str) -> Withdrawal:
    """The next step of withdrawing ``account``'s channel to ``prover``: request it (no
    withdrawal pending), report it (pending, not yet due: nothing is sent, asking again
    would restart the delay), or complete it (due). InputError for an empty channel."""
    state = escrow.channel(chain, deployment, account.address, prover)
    now = chain_time(chain)
    if state.withdrawable_at == 0:
        if state.deposited == 0:
            raise InputError(f"nothing is deposited in the channel to {prover} (epoch {state.epoch})")
        escrow.request_withdrawal(chain, deployment, account, prover)
        at = escrow.channel(chain, deployment, account.address, prover).withdrawable_at
        return Withdrawal(prover, "requested", at, now, state.available, state.epoch)
    if now < state.withdrawable_at:
        return Withdrawal(prover, "pending", state.withdrawable_at, now, state.available, state.epoch)
    receipt = escrow.withdraw(chain, deployment, account, prover)
    contract_ = contract(chain, "CreditEscrow", deployment.escrow)
    events = contract_.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    amount = int(events[0]["args"]["amount"]) if events else state.available
    next_epoch = int(events[0]["args"]["nextEpoch"]) if events else state.epoch + 1
    return Withdrawal(prover, "withdrawn", state.withdrawable_at, now, amount, next_epoch)
