"""Every error ghostproof raises on purpose: one root, one class per meaning, one table.

The classes are grouped by what a user can do about them, not by the package that raises
them; each docstring says who raises it. The table at the end maps every class to a CLI
exit code and an HTTP status (the node answers with the same meaning), and
:func:`exit_code` / :func:`http_status` read it. docs/ARCHITECTURE.md prints the table.

- bad input (``InputError`` and below, a ``ValueError`` as in web3.py): exit 2;
- a check failed — the answer, the weights or a root is wrong (``ProofError``): exit 1;
- something outside failed — a chain, a store, a toolchain (``ExternalError``): exit 3.

Pure: no imports beyond the standard library, so every layer can raise and catch these.
"""

from __future__ import annotations


class GhostproofError(Exception):
    """Base class of every error ghostproof raises on purpose."""


# ---------------------------------------------------------------- bad input (exit 2)


class InputError(GhostproofError, ValueError):
    """Raised when input cannot be used: a query vector of the wrong length, NaN/inf or all
    zeros, an option out of range, a file that cannot be read. Base of every bad-input error.

    ``field`` names the part of a request that is wrong (``input``, ``nonce``, a header), when
    one is to blame; the node's JSON error body carries it."""

    def __init__(self, *args: object, field: str | None = None):
        super().__init__(*args)
        self.field = field


class FormatError(InputError):
    """Raised by decoders when bytes or JSON do not follow the wire format (malformed input)."""


class RequestTooLargeError(FormatError):
    """Raised by the node when a request body or header is larger than it accepts (HTTP 413),
    before any of it is parsed."""


class GhostFileError(FormatError):
    """Raised when a ghost file is malformed, not canonical, or inconsistent with its roots."""


class CarFormatError(FormatError):
    """Raised by the CAR reader when a file is not a well-formed CAR v1 of raw blocks."""


class CorruptBlockError(FormatError):
    """Raised when bytes do not hash to the CID that names them: a block returned by a store,
    or a chunk of a model directory that differs from its chunk-table entry. ``what`` says
    which chunk (layer, matrix, columns) when known."""

    def __init__(
        self, cid: str, *, what: str | None = None, found: str | None = None, detail: str | None = None
    ):
        self.cid = cid
        self.what = what
        self.found = found
        label = f"{what} " if what else "block "
        tail = f" (the bytes hash to {found})" if found else ""
        super().__init__(f"{label}{cid}: {detail or 'bytes do not match the CID'}{tail}")


class ModelError(InputError):
    """Raised when a model directory is missing, incomplete or inconsistent: no ghost file, a
    matrix missing or of the wrong shape or dtype, a tree whose root differs, bad metadata."""


class AccountError(InputError):
    """Raised by the chain accounts when no signing account is given, a keystore cannot be
    read or decrypted, or a key file is malformed or readable by others."""


class NotRegisteredProverError(AccountError):
    """Raised by ``registry.check_prover_key`` (``prove``) when the signing key is not the
    prover registered for the model: every receipt it signed would fail ``verify --rpc``."""


class RpcUrlError(InputError):
    """Raised by ``provider.connect`` when the RPC URL is not an http(s) URL."""


class DeploymentError(InputError):
    """Raised by ``deployment.load_deployment`` when the deployment file is missing or
    malformed, and by the chain clients when no contract code is at a deployed address."""


class WrongChainError(InputError):
    """Raised when the chain id the RPC reports differs from the deployment file's, or when
    a dev account is asked for on a chain other than a local one (31337)."""


class UnknownModelError(InputError):
    """Raised by ``registry.read_model`` when the registry has no model with that id."""


class MissingExtraError(InputError):
    """Raised by the CLI when a command needs packages of an extra that is not installed
    (``pip install 'ghostproof[prover]'`` for build, prove and serve)."""


class PaymentError(InputError):
    """Base of the payment failures: a voucher or channel the node cannot accept."""


class VoucherError(PaymentError):
    """Raised when a payment voucher is malformed, badly signed, replayed, for another
    prover, escrow, chain or epoch, over the deposit, or on a channel about to be withdrawn."""


class ChallengeError(InputError):
    """Raised by ``challenge`` and the watcher when an answer gives no ground for a challenge
    that would succeed: every layer's selection is the exact top-k within the model's
    registered margin, the receipt was already slashed, the challenge window (the stake's
    unbonding period) is over, or the answer is for another registry or model. Nothing is
    sent; the message says which."""


class AttestationError(InputError):
    """Raised by ``attest`` when an availability attestation cannot be made or submitted: a
    malformed or unregistered BLS key, a bad proof of possession, a signature for another
    message, or no signatures to aggregate."""


# ---------------------------------------------------------------- a check failed (exit 1)


class ProofError(GhostproofError):
    """Raised by the verifier when a response does not prove what it claims.

    ``layer`` and ``matrix`` say where the failure is (None when it is not layer-specific);
    the message says what failed.
    """

    def __init__(self, reason: str, *, layer: int | None = None, matrix: str | None = None):
        self.reason = reason
        self.layer = layer
        self.matrix = matrix
        where = []
        if layer is not None:
            where.append(f"layer {layer}")
        if matrix is not None:
            where.append(f"matrix {matrix}")
        prefix = f"{' '.join(where)}: " if where else ""
        super().__init__(prefix + reason)


class MultiproofError(ProofError):
    """Raised when a Merkle multiproof does not reproduce the expected root, or has the wrong size."""


class RootMismatchError(ProofError):
    """Raised wherever a root that should match does not: a ghost file that does not hash to
    the ghostRoot anchored on-chain (or given), a model directory whose ghostRoot is not the
    registered one, or an audit whose rebuilt layer root or ghostRoot differs from the
    committed value (the audit's report then says which layer, matrix and chunk)."""


class ReceiptError(ProofError):
    """Raised when a receipt's signature, model, root or request does not match."""


class ProverMismatchError(ReceiptError):
    """Raised by ``registry.check_signer`` (``verify --rpc``) when the receipt was signed by
    another key than the model's registered prover (e.g. a second prover that registered the
    same ghostRoot)."""


class ModelRetiredError(ProofError):
    """Raised by ``registry.check_active`` (``verify --rpc``) when the model is retired: its
    prover no longer stands behind new answers (``--allow-retired`` checks an old one)."""


class UpdateProofError(ProofError):
    """Raised by ``verify_update`` when an update proof does not show that the new weights are
    the old ones after the declared training step: a header field, a chunk or another layer
    changed, a selection or threshold is wrong, or a replayed column differs."""


# ---------------------------------------------------------------- something outside failed (exit 3)


class ExternalError(GhostproofError):
    """Raised by adapters when something outside the process failed or refused: a chain RPC,
    a storage backend, a network peer, a toolchain."""


class OverloadError(ExternalError):
    """Raised by the node when it cannot take a request now: too many proofs queued, a
    channel busy with another request, or a rate limit reached (HTTP 429 with Retry-After).
    ``retry_after`` is the number of seconds after which a retry may succeed."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class UnsafeSelectionError(ExternalError):
    """Raised by ``Prover.prove`` (and so by the node, HTTP 503, no charge) when it cannot
    stand behind a selection: the approximate search did not reach far enough below the
    threshold for the model's margin to cover what it may have missed, so signing it could
    be slashed (DESIGN §6). Retrying with a wider search (``ef``) may succeed."""


class ChainError(ExternalError):
    """Base class of the chain adapter's external failures."""


class ChainUnreachableError(ChainError):
    """Raised by ``provider.connect`` when the RPC URL does not answer JSON-RPC."""


class InsufficientFundsError(ChainError):
    """Raised before sending a transaction when the account lacks the ETH for gas or the
    credits the call would transfer."""


class TransactionRevertedError(ChainError):
    """Raised by ``tx.transact`` when the chain rejects a call; ``error`` is the decoded
    custom error name (e.g. ``GhostRegistryUnknownModel``) and ``error_args`` its values."""

    def __init__(self, message: str, error: str | None = None, args: tuple[object, ...] = ()):
        super().__init__(message)
        self.error = error
        self.error_args = args


class TransactionTimeoutError(ChainError):
    """Raised by ``tx.transact`` (and the faucet) when a sent transaction has no receipt
    within the timeout; it may still be mined later."""


class AnvilError(ChainError):
    """Raised by ``anvil`` when the Anvil binary is missing or does not come up."""


class CompileError(ExternalError):
    """Raised by ``compile`` when node or solc-js is missing, or solc reports errors."""


class StorageError(ExternalError):
    """Base class of the failures of a block store (local folder, libkubo node, Kubo RPC)."""


class BlockNotFoundError(StorageError):
    """Raised by ``BlockStore.get`` when no block with ``cid`` arrived: absent from a local
    store, or not delivered by the network within the time-out."""

    def __init__(self, cid: str, detail: str = "not found", *, what: str | None = None):
        self.cid = cid
        self.what = what
        self.detail = detail
        label = f"{what} " if what else ""
        super().__init__(f"{label}block {cid}: {detail}")


class StoreUnreachableError(StorageError):
    """Raised by a store when its backend cannot be used at all: a Kubo RPC API that refuses
    or drops the connection, a libkubo node that does not start, an unwritable folder."""


class StoreRejectedError(StorageError):
    """Raised by a store when its backend answered but refused an operation (an HTTP error
    from Kubo's RPC API, a libkubo call returning a failure code)."""


# ---------------------------------------------------------------- the one table

#: (CLI exit code, HTTP status) by meaning. An error takes the entry of the first class of
#: its MRO listed here, so a subclass inherits its base's row unless it has its own.
ERROR_TABLE: dict[type[GhostproofError], tuple[int, int]] = {
    GhostproofError: (2, 500),
    InputError: (2, 422),
    FormatError: (2, 400),
    RequestTooLargeError: (2, 413),
    ModelError: (2, 500),
    AccountError: (2, 500),
    UnknownModelError: (2, 404),
    ChallengeError: (2, 409),
    MissingExtraError: (2, 501),
    PaymentError: (2, 402),
    ProofError: (1, 502),
    ExternalError: (3, 503),
    OverloadError: (3, 429),
}


def _row(exc: BaseException) -> tuple[int, int]:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]  # type: ignore[index]
    return (2, 500)


def exit_code(exc: BaseException) -> int:
    """The CLI exit code for ``exc``: 1 a check failed, 2 bad input, 3 something outside
    failed (2 for anything not in the table)."""
    return _row(exc)[0]


def http_status(exc: BaseException) -> int:
    """The HTTP status the node answers ``exc`` with (500 for anything not in the table)."""
    return _row(exc)[1]
