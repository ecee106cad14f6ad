"""Signing accounts: an encrypted keystore (any chain), a key file (offline / dev flow), or
one of Anvil's well-known dev accounts (local chains only). Keys never come from the
command line and are never printed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.protocol.errors import AccountError, WrongChainError

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
    from ghostproof.adapters.fileio import read_capped
    from ghostproof.protocol.errors import FormatError
    from ghostproof.protocol.jsonlimits import load_json

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
    from ghostproof.adapters.fileio import atomic_write

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


def dev_account(chain: Chain | int, index: int) -> LocalAccount:
    """Anvil's dev account ``index`` (0..9); only on a local chain: the embedded one, or
    chain id 31337. ``chain`` is a connected Chain, or the chain id a model is anchored on
    (``prove`` signs offline)."""
    if not 0 <= index < MAX_DEV_ACCOUNTS:
        raise AccountError(f"dev account must be 0..{MAX_DEV_ACCOUNTS - 1}")
    local = chain.is_local if isinstance(chain, Chain) else chain == LOCAL_CHAIN_ID
    if not local:
        chain_id = chain.chain_id if isinstance(chain, Chain) else chain
        raise WrongChainError(
            f"dev accounts exist only on a local chain (id {LOCAL_CHAIN_ID}); "
            f"this chain is {chain_id}: use --keystore"
        )
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def resolve_account(
    chain: Chain | int,
    *,
    keystore: Path | None,
    dev: int | None,
    key_file: Path | None,
    password: Callable[[Path], str],
) -> LocalAccount:
    """The one way a command picks its signing account: ``keystore`` (decrypted with
    $GHOSTPROOF_KEYSTORE_PASSWORD, else ``password(keystore)``, a prompt), else dev account
    ``dev`` (local chains only, see :func:`dev_account`), else ``key_file`` if it exists.
    AccountError when both or none are given."""
    if keystore is not None and dev is not None:
        raise AccountError("give one of --keystore and --dev-account, not both")
    if keystore is not None:
        secret = os.environ.get(PASSWORD_ENV)
        return load_keystore(keystore, secret if secret is not None else password(keystore))
    if dev is not None:
        return dev_account(chain, dev)
    if key_file is not None and key_file.exists():
        return load_key_file(key_file)
    raise AccountError("no signing account: pass --keystore FILE (or --dev-account N on a local chain)")


def fund_from_tester(chain: Chain, address: str, wei: int) -> None:
    """Send ``wei`` ETH to ``address`` from eth-tester's pre-funded account (embedded chain only)."""
    if chain.tester is None:
        raise WrongChainError("only the embedded chain has a tester account to fund from")
    w3 = chain.w3
    with rpc_errors(chain):
        tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": wei})
        w3.eth.wait_for_transaction_receipt(tx_hash)
