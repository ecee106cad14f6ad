"""Every error the chain adapter raises; each says who raises it. The CLI prints one line.

External failures (an RPC that is down, a transaction the chain refuses) subclass
``ExternalError`` (exit 3); bad input from the user subclasses ``ValueError`` (exit 2); an
answer the chain's record contradicts (retired model, another prover's signature) subclasses
``ProofError`` (exit 1).
"""

from __future__ import annotations

from ghostproof.protocol.errors import ExternalError, GhostproofError, ProofError, ReceiptError


class ChainError(ExternalError):
    """Base class of the chain adapter's external failures."""


class ChainUnreachableError(ChainError):
    """Raised by ``provider.connect`` when the RPC URL does not answer JSON-RPC."""


class RpcUrlError(GhostproofError, ValueError):
    """Raised by ``provider.connect`` when the RPC URL is not an http(s) URL (bad input)."""


class DeploymentError(GhostproofError, ValueError):
    """Raised by ``deployment.load_deployment`` when the deployment file is missing or
    malformed, and by the clients when no contract code is at a deployed address."""


class WrongChainError(GhostproofError, ValueError):
    """Raised when the chain id the RPC reports differs from the deployment file's, or when
    a dev account is asked for on a chain other than a local one (31337)."""


class UnknownModelError(GhostproofError, ValueError):
    """Raised by ``registry.read_model`` when the registry has no model with that id."""


class InsufficientFundsError(ChainError):
    """Raised before sending a transaction when the account lacks the ETH for gas or the
    credits the call would transfer."""


class RootMismatchError(GhostproofError, ValueError):
    """Raised by ``model commit`` / ``verify`` when a ghost file's ghostRoot differs from the
    one anchored on-chain for that model."""


class AccountError(GhostproofError, ValueError):
    """Raised by ``accounts`` when no signing account is given, a keystore cannot be read or
    decrypted, or a key file is malformed or readable by others."""


class NotRegisteredProverError(AccountError):
    """Raised by ``registry.check_prover_key`` (``prove``) when the signing key is not the
    prover registered for the model: every receipt it signed would fail ``verify --rpc``."""


class ModelRetiredError(ProofError):
    """Raised by ``registry.check_active`` (``verify --rpc``) when the model is retired: its
    prover no longer stands behind new answers (``--allow-retired`` checks an old one)."""


class ProverMismatchError(ReceiptError):
    """Raised by ``registry.check_signer`` (``verify --rpc``) when the receipt was signed by
    another key than the model's registered prover (e.g. a second prover that registered the
    same ghostRoot)."""


class TransactionRevertedError(ChainError):
    """Raised by ``tx.transact`` when the chain rejects a call; ``error`` is the decoded
    custom error name (e.g. ``GhostRegistryUnknownModel``) and ``args`` its values."""

    def __init__(self, message: str, error: str | None = None, args: tuple[object, ...] = ()):
        super().__init__(message)
        self.error = error
        self.error_args = args


class TransactionTimeoutError(ChainError):
    """Raised by ``tx.transact`` (and the faucet) when a sent transaction has no receipt
    within the timeout; it may still be mined later."""


class CompileError(GhostproofError):
    """Raised by ``compile`` when solc-js fails or reports errors, or node is missing."""


class AnvilError(ChainError):
    """Raised by ``anvil`` when the Anvil binary is missing or does not come up."""
