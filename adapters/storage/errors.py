"""Every error the IPFS adapter raises, each naming the block or chunk it is about.

Store and network failures subclass ``ExternalError`` (CLI exit 3); bytes that do not match
their CID, a bad CAR file or a model directory that contradicts its ghost file subclass
``FormatError`` (exit 2); an audit whose rebuilt roots differ from the committed ones is a
``ProofError`` (exit 1).
"""

from __future__ import annotations

from ghostproof.protocol.errors import ExternalError, FormatError, ProofError


class IpfsError(ExternalError):
    """Base class of the failures of an IPFS store (local folder, libkubo node, Kubo RPC)."""


class BlockNotFoundError(IpfsError):
    """Raised by ``BlockStore.get`` when no block with ``cid`` arrived: absent from a local
    store, or not delivered by the network within the time-out."""

    def __init__(self, cid: str, detail: str = "not found", *, what: str | None = None):
        self.cid = cid
        self.what = what
        self.detail = detail
        label = f"{what} " if what else ""
        super().__init__(f"{label}block {cid}: {detail}")


class StoreUnreachableError(IpfsError):
    """Raised by a store when its backend cannot be used at all: a Kubo RPC API that refuses
    or drops the connection, a libkubo node that does not start, an unwritable folder."""


class StoreRejectedError(IpfsError):
    """Raised by a store when its backend answered but refused an operation (an HTTP error
    from Kubo's RPC API, a libkubo call returning a failure code)."""


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


class CarFormatError(FormatError):
    """Raised by the CAR reader when a file is not a well-formed CAR v1 of raw blocks."""


class ModelDirError(FormatError):
    """Raised when a model directory is missing its ghost file or a matrix, or a matrix has
    the wrong shape or dtype for the ghost file's architecture."""


class AuditMismatchError(ProofError):
    """Raised by ``audit`` when a rebuilt layer root or the ghostRoot differs from the
    committed value; the report it carries says which layer and matrix, and where."""
