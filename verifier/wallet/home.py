"""The wallet folder: where a wallet keeps its key, its payment ledger, the ghost files it
checked and the answers it paid for, each path named here once.

Layout (``$GHOSTPROOF_HOME``, default ``~/.ghostproof``; folders 0700, files 0600)::

    keystore.json               the encrypted key (Web3 Secret Storage v3)
    ledger.sqlite               every voucher signed, per channel (ledger.py)
    ghosts/<ghostRoot>.json     ghost files, each checked against the on-chain root
    answers/<requestHash>/      verified answers: request.json, response.json|.bin, payment.json
    answers/rejected/<requestHash>/   answers that failed verification, kept as evidence
    versions/<chainId>-<registry>-<modelId>.json   the newest version of a model verified
    versions/rejected/<chainId>-<registry>-<modelId>-v<version>.json   a rotation that failed

A key enters only through :func:`create_keystore` (a fresh one) or :func:`import_keystore`
(from a prompt or stdin, never the command line) and is never printed. Used by
ghostproof.verifier.wallet.wallet (the Python API) and the ``wallet`` commands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

from ghostproof.adapters.chain.accounts import MAX_KEYSTORE_BYTES, load_keystore, write_keystore
from ghostproof.adapters.fileio import atomic_write, read_capped
from ghostproof.adapters.storage.store import HOME_ENV
from ghostproof.protocol.errors import AccountError, FormatError
from ghostproof.protocol.jsonlimits import load_json

KEYSTORE_FILE = "keystore.json"
LEDGER_FILE = "ledger.sqlite"
GHOSTS_DIR = "ghosts"
ANSWERS_DIR = "answers"
REJECTED_DIR = "rejected"
VERSIONS_DIR = "versions"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def default_home() -> Path:
    """``$GHOSTPROOF_HOME``, else ``~/.ghostproof``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".ghostproof")


@dataclass(frozen=True)
class WalletHome:
    """The paths of one wallet folder."""

    root: Path

    @classmethod
    def at(cls, root: Path | str | None = None) -> WalletHome:
        """The wallet folder ``root`` (default :func:`default_home`)."""
        return cls(Path(root).expanduser() if root is not None else default_home())

    @property
    def keystore(self) -> Path:
        """The encrypted key."""
        return self.root / KEYSTORE_FILE

    @property
    def ledger(self) -> Path:
        """The SQLite payment ledger."""
        return self.root / LEDGER_FILE

    def ghost(self, ghost_root: bytes) -> Path:
        """Where the ghost file anchored as ``ghost_root`` is kept."""
        return self.root / GHOSTS_DIR / f"0x{ghost_root.hex()}.json"

    @property
    def answers(self) -> Path:
        """The folder of every answer kept (what ``audit --watch`` watches by default)."""
        return self.root / ANSWERS_DIR

    def answer(self, request_hash: bytes, *, rejected: bool = False) -> Path:
        """The folder of the answer to the request ``request_hash`` (verified, or rejected)."""
        base = self.answers
        if rejected:
            base = base / REJECTED_DIR
        return base / f"0x{request_hash.hex()}"

    def version_record(self, chain_id: int, registry: str, model_id: int) -> Path:
        """Where the newest verified version of model ``model_id`` (registry ``registry`` on
        chain ``chain_id``) is recorded."""
        return self.root / VERSIONS_DIR / f"{chain_id}-{registry.lower()}-{model_id}.json"

    def rejected_version(self, chain_id: int, registry: str, model_id: int, version: int) -> Path:
        """Where the evidence of a rotation that failed verification is kept."""
        name = f"{chain_id}-{registry.lower()}-{model_id}-v{version}.json"
        return self.root / VERSIONS_DIR / REJECTED_DIR / name

    def folder(self, path: Path) -> Path:
        """Create ``path`` (inside the wallet folder) and the folders above it, each 0700,
        where missing; return it."""
        self.root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        current = self.root
        for part in path.relative_to(self.root).parts:
            current = current / part
            current.mkdir(mode=FOLDER_MODE, exist_ok=True)
        return path

    def write(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to ``path`` in the wallet folder, atomically, mode 0600."""
        self.folder(path.parent)
        atomic_write(path, data, FILE_MODE)
        return path


def _new_keystore(home: WalletHome, account: LocalAccount, password: str) -> str:
    if not password:
        raise AccountError("the wallet password must not be empty")
    home.folder(home.root)
    try:
        write_keystore(home.keystore, account, password)
    except FileExistsError:
        raise AccountError(
            f"a wallet already exists at {home.keystore} (its address: `ghostproof wallet address`)"
        ) from None
    return account.address


def create_keystore(home: WalletHome, password: str) -> str:
    """A fresh random key, encrypted with ``password`` into ``home``'s keystore (0600, never
    overwritten); returns its address. AccountError if a wallet exists there."""
    return _new_keystore(home, Account.create(), password)


def parse_private_key(text: str) -> LocalAccount:
    """The account of a hex private key (``0x`` optional, surrounding blanks ignored);
    AccountError that never quotes the text."""
    try:
        return Account.from_key(text.strip())
    except Exception:  # malformed keys raise several types; their messages may quote the key
        raise AccountError("that is not a hex private key (32 bytes, 64 hex digits)") from None


def import_keystore(home: WalletHome, private_key: str, password: str) -> str:
    """Encrypt the hex ``private_key`` (read from a prompt or stdin by the caller) with
    ``password`` into ``home``'s keystore; returns its address."""
    return _new_keystore(home, parse_private_key(private_key), password)


def read_address(home: WalletHome) -> str:
    """The wallet's address, from the keystore's public ``address`` field (no password).
    AccountError if there is no wallet or the keystore is malformed."""
    try:
        data = read_capped(home.keystore, MAX_KEYSTORE_BYTES)
    except FileNotFoundError:
        raise AccountError(f"no wallet at {home.root}: run `ghostproof wallet new`") from None
    except OSError as exc:
        raise AccountError(f"cannot read keystore {home.keystore}: {exc.strerror}") from None
    try:
        obj = load_json(data, what=f"keystore {home.keystore}", max_bytes=MAX_KEYSTORE_BYTES)
    except FormatError as exc:
        raise AccountError(str(exc)) from None
    address = obj.get("address") if isinstance(obj, dict) else None
    if not isinstance(address, str) or not is_hex_address(
        address if address.startswith("0x") else "0x" + address
    ):
        raise AccountError(f"keystore {home.keystore} names no address")
    return to_checksum_address(address if address.startswith("0x") else "0x" + address)


def unlock(home: WalletHome, password: str) -> LocalAccount:
    """The wallet's account, decrypted with ``password``; AccountError (exit 2) for no wallet
    or a wrong password."""
    if not home.keystore.exists():
        raise AccountError(f"no wallet at {home.root}: run `ghostproof wallet new`")
    return load_keystore(home.keystore, password)
