"""Signing accounts: an encrypted keystore (any chain), a key file (offline / dev flow), or
one of Anvil's well-known dev accounts (local chains only). Keys never come from the
command line and are never printed.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .errors import AccountError, WrongChainError
from .provider import LOCAL_CHAIN_ID, Chain, rpc_errors

PASSWORD_ENV = "GHOSTPROOF_KEYSTORE_PASSWORD"
# The public mnemonic every Anvil / Hardhat dev chain funds; never use it on a real chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
MAX_DEV_ACCOUNTS = 10
MAX_KEYSTORE_BYTES = 64 * 1024  # a v3 keystore is about 500 bytes

Account.enable_unaudited_hdwallet_features()


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the Web3 Secret Storage (v3) keystore at ``path`` with ``password``.

    AccountError if it cannot be read, is over MAX_KEYSTORE_BYTES, is not JSON (see
    protocol.jsonlimits.load_json), or does not decrypt."""
    from protocol.errors import FormatError
    from protocol.jsonlimits import load_json
    from prover.modeldir import read_capped

    try:
        data = load_json(read_capped(path, MAX_KEYSTORE_BYTES), what=f"keystore {path}",
                         max_bytes=MAX_KEYSTORE_BYTES)
    except OSError as exc:
        raise AccountError(f"cannot read keystore {path}: {exc.strerror}") from exc
    except FormatError as exc:
        raise AccountError(str(exc)) from exc
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        raise AccountError(f"cannot decrypt keystore {path}: wrong password?") from exc
    except Exception as exc:  # malformed keystores raise several types
        raise AccountError(f"keystore {path} is malformed") from exc
    return Account.from_key(key)


def write_keystore(path: Path, account: LocalAccount, password: str) -> None:
    """Encrypt ``account`` into a new keystore file at ``path`` (mode 0600), written whole or
    not at all; FileExistsError if ``path`` exists (a keystore is never overwritten)."""
    from prover.modeldir import atomic_write

    data = json.dumps(Account.encrypt(account.key, password))
    atomic_write(path, data.encode("utf-8"), 0o600, replace=False)


def load_key_file(path: Path) -> LocalAccount:
    """A hex private key from ``path``, which must not be readable by group or others."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AccountError(f"cannot read key file {path}: {exc.strerror}") from exc
    except ValueError:  # not UTF-8; the decoder's message would quote a key byte
        raise AccountError(f"key file {path} does not hold a hex private key") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AccountError(f"key file {path} is readable by others (chmod 600 it)")
    try:
        return Account.from_key(text)
    except Exception as exc:  # malformed keys raise several types
        raise AccountError(f"key file {path} does not hold a hex private key") from exc


def dev_account(chain: Chain, index: int) -> LocalAccount:
    """Anvil's dev account ``index`` (0..9); only on a local chain (chain id 31337 or embedded)."""
    if not 0 <= index < MAX_DEV_ACCOUNTS:
        raise AccountError(f"dev account must be 0..{MAX_DEV_ACCOUNTS - 1}")
    if not chain.is_embedded and chain.chain_id != LOCAL_CHAIN_ID:
        raise WrongChainError(
            f"dev accounts exist only on a local chain (id {LOCAL_CHAIN_ID}); "
            f"this chain is {chain.chain_id}: use --keystore"
        )
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def fund_from_tester(chain: Chain, address: str, wei: int) -> None:
    """Send ``wei`` ETH to ``address`` from eth-tester's pre-funded account (embedded chain only)."""
    if chain.tester is None:
        raise WrongChainError("only the embedded chain has a tester account to fund from")
    w3 = chain.w3
    with rpc_errors(chain):
        tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": wei})
        w3.eth.wait_for_transaction_receipt(tx_hash)
