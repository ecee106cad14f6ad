"""CreditEscrow client: deposit (after an approval, or with an EIP-2612 permit in one
transaction), redeem a voucher, request and make a withdrawal, read a channel.

Used by the client wallet (deposit, withdraw), the prover service (channel state, redeem)
and the tests. Vouchers and the channel state they are checked against are
protocol/voucher.py; the permit is hashed by protocol/eip712.py, the one EIP-712 encoder.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from ghostproof.protocol.eip712 import Domain, StructType, typed_data_digest
from ghostproof.protocol.errors import DeploymentError, InsufficientFundsError
from ghostproof.protocol.signing import sign_digest
from ghostproof.protocol.voucher import ChannelState, Voucher

from .deployment import Deployment, contract
from .provider import Chain, rpc_errors
from .registry import approve_credits, credit_balance
from .tx import call, transact

__all__ = [
    "ChannelState",
    "channel",
    "deposit",
    "deposit_with_permit",
    "head",
    "redeem",
    "request_withdrawal",
    "voucher_for",
    "withdraw",
    "withdrawal_requests",
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


#: EIP-2612's permit, as OpenZeppelin's ERC20Permit (GhostCredit) hashes it.
PERMIT_TYPE = StructType(
    "Permit",
    (("owner", "address"), ("spender", "address"), ("value", "uint256"), ("nonce", "uint256"),
     ("deadline", "uint256")),
)
#: How long a permit signed for a deposit stays valid (seconds after the latest block).
PERMIT_TTL_S = 3600


def credit_domain(chain: Chain, deployment: Deployment) -> Domain:
    """GhostCredit's EIP-712 domain as the token reports it (ERC-5267 ``eip712Domain``);
    DeploymentError if it names another chain or contract than the deployment."""
    token = contract(chain, "GhostCredit", deployment.credit)
    _, name, version, chain_id, verifying, _, _ = call(chain, token.functions.eip712Domain(),
                                                       "eip712Domain")
    if int(chain_id) != deployment.chain_id or verifying != deployment.credit:
        raise DeploymentError(
            f"GhostCredit at {deployment.credit} reports the EIP-712 domain of {verifying} on "
            f"chain {chain_id}"
        )
    return Domain(str(name), str(version), int(chain_id), deployment.credit)


def permit_signature(
    chain: Chain, deployment: Deployment, owner: LocalAccount, spender: str, value: int, deadline: int
) -> tuple[int, bytes, bytes]:
    """(v, r, s) of ``owner``'s EIP-2612 permit letting ``spender`` pull ``value`` credits
    until ``deadline``, at the owner's current permit nonce."""
    token = contract(chain, "GhostCredit", deployment.credit)
    nonce = int(call(chain, token.functions.nonces(owner.address), "nonces"))
    digest = typed_data_digest(credit_domain(chain, deployment), PERMIT_TYPE, {
        "owner": owner.address, "spender": spender, "value": value, "nonce": nonce,
        "deadline": deadline,
    })
    signature = sign_digest(digest, bytes(owner.key))
    return signature[64], signature[:32], signature[32:64]


def deposit_with_permit(
    chain: Chain, deployment: Deployment, client: LocalAccount, prover: str, amount: int
) -> TxReceipt:
    """Deposit ``amount`` credits from ``client`` into its channel to ``prover`` in one
    transaction (``CreditEscrow.depositWithPermit``: an EIP-2612 permit instead of a prior
    approval). Cancels a pending withdrawal of the channel. InsufficientFundsError (nothing
    sent) if ``client`` holds fewer credits."""
    held = credit_balance(chain, deployment, client.address)
    if held < amount:
        raise InsufficientFundsError(
            f"account {client.address} holds {held} credits, the deposit is {amount}"
        )
    with rpc_errors(chain):
        deadline = int(chain.w3.eth.get_block("latest")["timestamp"]) + PERMIT_TTL_S
    v, r, s = permit_signature(chain, deployment, client, deployment.escrow, amount, deadline)
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    fn = escrow.functions.depositWithPermit(prover, amount, deadline, v, r, s)
    return transact(chain, client, fn, "depositWithPermit")


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


def withdrawal_requests(
    chain: Chain, deployment: Deployment, prover: str, from_block: int, to_block: int
) -> list[tuple[str, int]]:
    """(client, withdrawableAt) of every ``WithdrawalRequested`` for ``prover`` mined in blocks
    ``from_block`` … ``to_block`` (inclusive), in chain order: the node redeems those channels
    before the withdrawal falls due."""
    escrow = contract(chain, "CreditEscrow", deployment.escrow)
    with rpc_errors(chain):
        logs = escrow.events.WithdrawalRequested().get_logs(
            argument_filters={"prover": prover}, from_block=from_block, to_block=to_block
        )
    return [(log["args"]["client"], int(log["args"]["withdrawableAt"])) for log in logs]


def head(chain: Chain) -> tuple[int, int]:
    """(number, timestamp) of the latest block: the chain's clock."""
    with rpc_errors(chain):
        block = chain.w3.eth.get_block("latest")
    return int(block["number"]), int(block["timestamp"])
