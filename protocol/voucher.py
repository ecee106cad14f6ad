"""EIP-712 payment vouchers of the CreditEscrow channels (DESIGN §5, §7): encode, sign, recover.

A voucher says "client owes prover ``cumulative_amount`` credits in total on this channel".
It is signed under the domain ("ghostproof CreditEscrow", "1", chain id, escrow address)
as ``Voucher(address client,address prover,uint256 cumulativeAmount)``, exactly what
contracts/CreditEscrow.sol recovers. Used by the client wallet (sign), the prover service
(check before any work) and the chain adapter (redeem). Pure: no web3, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_account.messages import encode_typed_data
from eth_utils import is_hex_address, to_checksum_address

from .errors import VoucherError
from .hashing import keccak256
from .signing import recover_digest_signer, sign_digest

DOMAIN_NAME = "ghostproof CreditEscrow"
DOMAIN_VERSION = "1"
VOUCHER_TYPE = "Voucher(address client,address prover,uint256 cumulativeAmount)"
VOUCHER_TYPEHASH = keccak256(VOUCHER_TYPE.encode())
MAX_UINT128 = (1 << 128) - 1
# The one wire form of an amount: ASCII decimal, no sign, no leading zero (at most 39 digits).
_AMOUNT_RE = re.compile(r"[1-9][0-9]{0,38}")

_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Voucher": [
        {"name": "client", "type": "address"},
        {"name": "prover", "type": "address"},
        {"name": "cumulativeAmount", "type": "uint256"},
    ],
}


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise VoucherError(f"{what} must be a 20-byte hex address")
    return to_checksum_address(value)


@dataclass(frozen=True)
class Voucher:
    """One cumulative voucher of the channel client→prover on the escrow at ``escrow``."""

    client: str
    prover: str
    cumulative_amount: int
    chain_id: int
    escrow: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", _address(self.client, "voucher client"))
        object.__setattr__(self, "prover", _address(self.prover, "voucher prover"))
        object.__setattr__(self, "escrow", _address(self.escrow, "voucher escrow"))
        for name, bound in (("cumulative_amount", MAX_UINT128), ("chain_id", (1 << 256) - 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= bound:
                raise VoucherError(f"voucher {name} must be an integer in 1..{bound}")

    def typed_data(self) -> dict[str, object]:
        """The EIP-712 typed-data document (eth_signTypedData_v4 form)."""
        return {
            "types": _TYPES,
            "primaryType": "Voucher",
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": self.escrow,
            },
            "message": {
                "client": self.client,
                "prover": self.prover,
                "cumulativeAmount": self.cumulative_amount,
            },
        }

    def digest(self) -> bytes:
        """The 32-byte EIP-712 digest the client signs (CreditEscrow.voucherDigest)."""
        signable = encode_typed_data(full_message=self.typed_data())
        return keccak256(b"\x19" + signable.version + signable.header + signable.body)

    def to_json(self) -> dict[str, object]:
        """Wire form: addresses checksummed, the amount as a decimal string."""
        return {
            "client": self.client,
            "prover": self.prover,
            "cumulativeAmount": str(self.cumulative_amount),
            "chainId": self.chain_id,
            "escrow": self.escrow,
        }

    @classmethod
    def from_json(cls, obj: object) -> Voucher:
        """Parse the wire form; raise VoucherError on any deviation."""
        keys = {"client", "prover", "cumulativeAmount", "chainId", "escrow"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise VoucherError(f"voucher must have exactly {sorted(keys)}")
        amount = obj["cumulativeAmount"]
        if not isinstance(amount, str) or _AMOUNT_RE.fullmatch(amount) is None:
            raise VoucherError(
                "voucher cumulativeAmount must be a decimal string (ASCII digits, no leading zero)"
            )
        return cls(obj["client"], obj["prover"], int(amount), obj["chainId"], obj["escrow"])


def sign_voucher(voucher: Voucher, private_key: bytes | str) -> bytes:
    """The client's 65-byte signature (r ‖ s ‖ v, v ∈ {27, 28}) of ``voucher``."""
    return sign_digest(voucher.digest(), private_key)


def recover_voucher_signer(voucher: Voucher, signature: bytes) -> str:
    """The checksummed address that signed ``voucher``; VoucherError if the signature is malformed.

    Rejects high-s and v ∉ {27, 28} as OpenZeppelin's ECDSA does, so a signature accepted here
    is accepted by the escrow.
    """
    return recover_digest_signer(voucher.digest(), signature, VoucherError, "voucher signature")


def check_voucher(
    voucher: Voucher,
    signature: bytes,
    *,
    redeemed: int,
    deposited: int,
    previous: int = 0,
) -> int:
    """Validate a voucher against the channel state; return the newly owed amount.

    Raises VoucherError unless the client signed it, it is above both the last voucher
    accepted (``previous``) and the on-chain ``redeemed`` total (no replay), and it does not
    exceed ``deposited`` (no over-spend). Changes nothing.
    """
    signer = recover_voucher_signer(voucher, signature)
    if signer != voucher.client:
        raise VoucherError(f"voucher signed by {signer}, not by the client {voucher.client}")
    floor = max(previous, redeemed)
    if voucher.cumulative_amount <= floor:
        raise VoucherError(
            f"voucher amount {voucher.cumulative_amount} is not above {floor} (replay)"
        )
    if voucher.cumulative_amount > deposited:
        raise VoucherError(
            f"voucher amount {voucher.cumulative_amount} exceeds the deposit {deposited}"
        )
    return voucher.cumulative_amount - floor
