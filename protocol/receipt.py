"""The receipt: what a prover signs for an answer (EIP-712), and the hashes it binds.

requestHash   = keccak256(0x04 ‖ uint256 modelId ‖ bytes32 nonce ‖ uint32 n ‖ float32-BE x)
selectionHash = keccak256(layerSelection_0 ‖ … ‖ layerSelection_{L-1}), where
layerSelection_ℓ = keccak256(0x05 ‖ uint16 ℓ ‖ int8 q_ℓ ‖ int32-BE τ_ℓ ‖ uint32-BE S_ℓ[0] ‖ …)
outputHash    = keccak256(0x06 ‖ int32-BE y_0 ‖ … ‖ y_{d-1})   (the exact Q16 output)
The signed struct is ``Receipt(uint256 modelId,bytes32 ghostRoot,bytes32 requestHash,
bytes32 selectionHash,bytes32 outputHash)`` under the domain ``{name: "ghostproof",
version: "2", chainId, verifyingContract}``, hashed by protocol/eip712.py (the one EIP-712
implementation; vouchers use it too). GhostRegistry recomputes the digest on-chain
(``receiptDigest``, under its own address) and one layer's selection hash
(``layerSelectionHash``), so a Challenge contract needs only one layer's selection (the
others enter as their hashes). Used by the prover (sign), the verifier (recover) and the
response types (``Response.digest``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from .constants import TAG_LAYER_SELECTION, TAG_OUTPUT, TAG_REQUEST
from .eip712 import Domain, StructType, hash_struct, typed_data_digest
from .errors import ReceiptError
from .hashing import keccak256
from .signing import recover_digest_signer

DOMAIN_NAME = "ghostproof"
DOMAIN_VERSION = "2"  # = the protocol format version (receipts of format 1 do not verify)
RECEIPT_TYPE = StructType(
    "Receipt",
    (("modelId", "uint256"), ("ghostRoot", "bytes32"), ("requestHash", "bytes32"),
     ("selectionHash", "bytes32"), ("outputHash", "bytes32")),
)
RECEIPT_TYPEHASH = RECEIPT_TYPE.typehash
ZERO_ADDRESS = "0x" + "00" * 20


def request_hash(model_id: int, nonce: bytes, x: np.ndarray) -> bytes:
    """Hash of a request: the model asked, a client nonce, and the float32 input."""
    x32 = np.asarray(x, dtype=">f4")
    return keccak256(
        bytes([TAG_REQUEST]) + model_id.to_bytes(32, "big") + nonce
        + struct.pack(">I", x32.size) + x32.tobytes()
    )


def layer_selection_hash(layer: int, q: np.ndarray, tau: int, selected: Sequence[int]) -> bytes:
    """Hash binding layer ``layer``'s claimed query, threshold τ and selected indices."""
    return keccak256(
        struct.pack(">BH", TAG_LAYER_SELECTION, layer)
        + np.asarray(q, dtype=np.int8).tobytes()
        + struct.pack(">i", tau)
        + np.asarray(selected, dtype=">u4").tobytes()
    )


def selection_hash(layers: Sequence[tuple[np.ndarray, int, Sequence[int]]]) -> bytes:
    """Hash over every layer's (q, τ, S): the part of a receipt a challenge disputes."""
    return keccak256(
        b"".join(layer_selection_hash(i, q, tau, s) for i, (q, tau, s) in enumerate(layers))
    )


def output_hash(output: np.ndarray) -> bytes:
    """Hash of the claimed final output (the exact integer output, int32 big-endian)."""
    return keccak256(bytes([TAG_OUTPUT]) + np.asarray(output, dtype=">i4").tobytes())


def receipt_domain(chain_id: int, verifying_contract: str) -> Domain:
    """The EIP-712 domain of receipts on ``chain_id`` checked by ``verifying_contract`` (the
    GhostRegistry; chain 0 and the zero address offline): name "ghostproof", version "2"."""
    return Domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, verifying_contract)


def _receipt_values(
    model_id: int, ghost_root: bytes, request: bytes, selection: bytes, output: bytes
) -> dict[str, object]:
    return {"modelId": model_id, "ghostRoot": ghost_root, "requestHash": request,
            "selectionHash": selection, "outputHash": output}


def receipt_struct_hash(
    *, model_id: int, ghost_root: bytes, request: bytes, selection: bytes, output: bytes
) -> bytes:
    """``hashStruct(Receipt)``, the domain-independent part of the digest (what a contract
    combines with its own domain separator). FormatError if a value does not fit its type."""
    return hash_struct(RECEIPT_TYPE, _receipt_values(model_id, ghost_root, request, selection, output))


def receipt_digest(
    *,
    chain_id: int,
    verifying_contract: str,
    model_id: int,
    ghost_root: bytes,
    request: bytes,
    selection: bytes,
    output: bytes,
) -> bytes:
    """The EIP-712 digest a prover signs, keccak256(0x1901 ‖ domainSeparator ‖ structHash),
    as GhostRegistry.receiptDigest computes it on-chain. FormatError if a value does not fit
    its type (an id beyond uint256, a hash that is not 32 bytes, a malformed address)."""
    return typed_data_digest(
        receipt_domain(chain_id, verifying_contract),
        RECEIPT_TYPE,
        _receipt_values(model_id, ghost_root, request, selection, output),
    )


def recover_signer(digest: bytes, signature: bytes) -> str:
    """Checksummed address that produced ``signature`` over ``digest``; ReceiptError if invalid."""
    return recover_digest_signer(digest, signature, ReceiptError, "receipt signature")
