"""The receipt: what a prover signs for an answer (EIP-712), and the hashes it binds.

requestHash   = keccak256(0x04 ‖ uint256 modelId ‖ bytes32 nonce ‖ uint32 n ‖ float32-BE x)
selectionHash = keccak256(layerSelection_0 ‖ … ‖ layerSelection_{L-1}), where
layerSelection_ℓ = keccak256(0x05 ‖ uint16 ℓ ‖ int8 q_ℓ ‖ int32-BE τ_ℓ ‖ uint32-BE S_ℓ[0] ‖ …)
outputHash    = keccak256(0x06 ‖ int32-BE y_0 ‖ … ‖ y_{d-1})   (the exact Q16 output)
The signed struct is ``Receipt(uint256 modelId,bytes32 ghostRoot,bytes32 requestHash,
bytes32 selectionHash,bytes32 outputHash)`` under the domain ``{name: "ghostproof",
version: "2", chainId, verifyingContract}``; a Challenge contract can recompute each hash,
and needs only one layer's selection (the others enter as their hashes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from .constants import TAG_LAYER_SELECTION, TAG_OUTPUT, TAG_REQUEST
from .errors import ReceiptError
from .hashing import keccak256
from .signing import recover_digest_signer

DOMAIN_NAME = "ghostproof"
DOMAIN_VERSION = "2"  # = the protocol format version (receipts of format 1 do not verify)
DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
RECEIPT_TYPEHASH = keccak256(
    b"Receipt(uint256 modelId,bytes32 ghostRoot,bytes32 requestHash,"
    b"bytes32 selectionHash,bytes32 outputHash)"
)
ZERO_ADDRESS = "0x" + "00" * 20


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:]) if address.startswith("0x") else b""
    if len(raw) != 20:
        raise ReceiptError(f"{address!r} is not a 20-byte address")
    return bytes(12) + raw


def request_hash(model_id: int, nonce: bytes, x: np.ndarray) -> bytes:
    """Hash of a request: the model asked, a client nonce, and the float32 input."""
    x32 = np.asarray(x, dtype=">f4")
    return keccak256(
        bytes([TAG_REQUEST]) + _word(model_id) + nonce + struct.pack(">I", x32.size) + x32.tobytes()
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


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """EIP-712 domain separator of receipts on ``chain_id`` for ``verifying_contract``."""
    return keccak256(
        DOMAIN_TYPEHASH
        + keccak256(DOMAIN_NAME.encode())
        + keccak256(DOMAIN_VERSION.encode())
        + _word(chain_id)
        + _address_word(verifying_contract)
    )


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
    """The EIP-712 digest a prover signs: keccak256(0x1901 ‖ domainSeparator ‖ structHash)."""
    struct_hash = keccak256(
        RECEIPT_TYPEHASH + _word(model_id) + ghost_root + request + selection + output
    )
    return keccak256(b"\x19\x01" + domain_separator(chain_id, verifying_contract) + struct_hash)


def recover_signer(digest: bytes, signature: bytes) -> str:
    """Checksummed address that produced ``signature`` over ``digest``; ReceiptError if invalid."""
    return recover_digest_signer(digest, signature, ReceiptError, "receipt signature")
