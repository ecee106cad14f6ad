"""Sending transactions with a local signing account, and calling views, with reverts
decoded into the contracts' custom errors.

Every state change goes through ``transact``: it estimates gas first (so a revert is
reported with its custom error, and nothing is sent), checks the account can pay, signs
locally, sends, and waits for the receipt.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from ghostproof.protocol.errors import InsufficientFundsError, TransactionRevertedError

from .contracts import decode_revert, revert_data_of
from .provider import Chain, rpc_errors

GAS_HEADROOM = 1.2
RECEIPT_TIMEOUT_S = 120


LOCAL_PRIORITY_FEE_WEI = 10**9


def fee_params(chain: Chain) -> dict[str, int]:
    """EIP-1559 fee fields: twice the latest base fee plus the tip.

    On local chains the tip is fixed at 1 gwei: Anvil suggests the recent tips as the next
    tip, so taking its suggestion on a chain we alone use doubles the fee every few blocks.
    """
    w3 = chain.w3
    with rpc_errors(chain):
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        tip = LOCAL_PRIORITY_FEE_WEI if chain.is_local else int(w3.eth.max_priority_fee)
    return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}


def _reverted(exc: BaseException, what: str) -> TransactionRevertedError:
    data = revert_data_of(exc)
    decoded = decode_revert(data) if data is not None else None
    if decoded is None:
        return TransactionRevertedError(f"{what} reverted: {exc}")
    name, args = decoded
    shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
    return TransactionRevertedError(f"{what} reverted: {name}({shown})", name, args)


def _is_revert(exc: BaseException) -> bool:
    return revert_data_of(exc) is not None or "revert" in str(exc).lower()


def call(chain: Chain, fn: Any, what: str) -> Any:
    """Call the view ``fn`` (a bound web3 contract function); decode a revert."""
    with rpc_errors(chain):
        try:
            return fn.call()
        except Exception as exc:
            if _is_revert(exc):
                raise _reverted(exc, what) from exc
            raise


def estimate(chain: Chain, fn: Any, sender: str | None = None) -> int:
    """Gas ``fn`` would use (a view's execution cost counts too); decode a revert. Estimated
    at gas price 0, so a sender without ETH (a dry run's) can be simulated on every chain."""
    with rpc_errors(chain):
        try:
            return int(fn.estimate_gas({"from": sender, "gasPrice": 0} if sender else {}))
        except Exception as exc:
            if _is_revert(exc):
                raise _reverted(exc, fn.fn_name) from exc
            raise


def transact(
    chain: Chain, account: LocalAccount, fn: Any, what: str, value: int = 0
) -> TxReceipt:
    """Sign and send ``fn`` (a contract function or constructor) from ``account``.

    Raises TransactionRevertedError (custom error decoded) if it would revert, and
    InsufficientFundsError if the account cannot pay gas plus ``value``; sends nothing then.
    """
    w3 = chain.w3
    with rpc_errors(chain):
        params: dict[str, Any] = {"from": account.address, "value": value}
        try:
            gas = int(fn.estimate_gas(params))
        except Exception as exc:
            if _is_revert(exc):
                raise _reverted(exc, what) from exc
            raise
        params["gas"] = int(gas * GAS_HEADROOM)
        params["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
        params.update(fee_params(chain))
        tx = fn.build_transaction(params)
        fee = int(tx.get("maxFeePerGas", tx.get("gasPrice", 0)))
        balance = w3.eth.get_balance(account.address)
        if balance < fee * params["gas"] + value:
            raise InsufficientFundsError(
                f"account {account.address} has {balance} wei, {what} needs about "
                f"{fee * params['gas'] + value} wei (gas + value): fund it first"
            )
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionRevertedError(f"{what} reverted on-chain (tx {tx_hash.hex()})")
    return receipt


def send_eth(chain: Chain, owner: LocalAccount, to: str, wei: int) -> TxReceipt:
    """Send ``wei`` of the chain's ether from ``owner`` to ``to`` (a plain 21,000-gas
    transfer, signed locally) and wait for its receipt. Errors as :func:`rpc_errors` maps them."""
    w3 = chain.w3
    with rpc_errors(chain):
        tx = {"to": to, "value": wei, "gas": 21_000, "chainId": chain.chain_id,
              "nonce": w3.eth.get_transaction_count(owner.address, "pending"), **fee_params(chain)}
        signed = owner.sign_transaction(tx)
        return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
