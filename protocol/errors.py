"""Every error the pure core raises, one class per failure a user can act on.

Input errors subclass ``ValueError`` (as web3.py does), verification failures subclass
``ProofError``. The CLI turns each into one line and a non-zero exit.
"""

from __future__ import annotations


class GhostproofError(Exception):
    """Base class of every error ghostproof raises on purpose."""


class FormatError(GhostproofError, ValueError):
    """Raised by decoders when bytes or JSON do not follow the wire format (malformed input)."""


class InputError(GhostproofError, ValueError):
    """Raised when a query vector cannot be used: wrong length, NaN/inf, or all zeros."""


class GhostFileError(FormatError):
    """Raised when a ghost file is malformed, not canonical, or inconsistent with its roots."""


class ModelError(GhostproofError):
    """Raised when a model directory is missing, incomplete or inconsistent."""


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


class AnchorError(ProofError):
    """Raised when a ghost file does not hash to the ghostRoot anchored on-chain (or given)."""


class ReceiptError(ProofError):
    """Raised when a receipt's signature, model, root or request does not match."""


class VoucherError(GhostproofError, ValueError):
    """Raised when a payment voucher is malformed, badly signed, replayed or over the balance."""


class ExternalError(GhostproofError):
    """Raised by adapters when something outside the process failed or refused: a chain RPC,
    an IPFS store, a network peer. Subclassed per adapter (chain, IPFS)."""
