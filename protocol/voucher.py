"""EIP-712 payment vouchers of the CreditEscrow channels (DESIGN §5, §7): encode, sign, recover,
and the check a prover runs before any work.

A voucher says "client owes prover ``cumulative_amount`` credits in total in this epoch of
their channel". It is signed under the domain ("ghostproof CreditEscrow", "1", chain id,
escrow address) as ``Voucher(address client,address prover,uint64 epoch,uint256
cumulativeAmount)``, exactly what contracts/CreditEscrow.sol recovers (hashed by
protocol/eip712.py, the one EIP-712 implementation; receipts use it too). A withdrawal closes
the channel and starts the next epoch, so a closed epoch's vouchers cannot be redeemed
against a later deposit. Used by the client wallet (sign), the prover service (check before
any work) and the chain adapter (redeem, channel state). Pure: no web3, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils import is_hex_address, to_checksum_address

from .eip712 import Domain, StructType, typed_data, typed_data_digest
from .errors import VoucherError
from .signing import recover_digest_signer, sign_digest

DOMAIN_NAME = "ghostproof CreditEscrow"
DOMAIN_VERSION = "1"
VOUCHER_TYPE = StructType(
    "Voucher",
    (("client", "address"), ("prover", "address"), ("epoch", "uint64"),
     ("cumulativeAmount", "uint256")),
)
VOUCHER_TYPEHASH = VOUCHER_TYPE.typehash
MAX_UINT64 = (1 << 64) - 1
MAX_UINT128 = (1 << 128) - 1
MAX_UINT256 = (1 << 256) - 1
# The one wire form of an amount: ASCII decimal, no sign, no leading zero (at most 39 digits).
_AMOUNT_RE = re.compile(r"[1-9][0-9]{0,38}")

_WIRE_KEYS = frozenset({"client", "prover", "epoch", "cumulativeAmount", "chainId", "escrow"})


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise VoucherError(f"{what} must be a 20-byte hex address")
    return to_checksum_address(value)


def _integer(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise VoucherError(f"{what} must be an integer in {low}..{high}")
    return value


@dataclass(frozen=True)
class ChannelState:
    """One channel client→prover as the escrow holds it (``CreditEscrow.channel``).

    ``deposited`` and ``redeemed`` count from zero in every epoch; ``withdrawable_at`` is the
    Unix time from which the client may withdraw, 0 when no withdrawal is pending; ``epoch``
    is the one the channel's vouchers must name (it grows by one at every withdrawal).
    """

    deposited: int
    redeemed: int
    withdrawable_at: int
    epoch: int

    @property
    def available(self) -> int:
        """Credits still redeemable by the prover."""
        return self.deposited - self.redeemed

    def withdrawal_due_within(self, now: int, margin: int) -> bool:
        """Whether a pending withdrawal falls due by ``now + margin`` (Unix seconds).

        A redeem mined in a block stamped at or after ``withdrawable_at`` may come too late
        (the client's withdraw can precede it), so a prover that needs ``margin`` seconds to
        get a redeem mined cannot rely on being paid for a voucher accepted now.
        """
        return self.withdrawable_at != 0 and self.withdrawable_at <= now + margin


@dataclass(frozen=True)
class Voucher:
    """One cumulative voucher of the channel client→prover, in channel epoch ``epoch``, on the
    escrow at ``escrow`` of chain ``chain_id``."""

    client: str
    prover: str
    epoch: int
    cumulative_amount: int
    chain_id: int
    escrow: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", _address(self.client, "voucher client"))
        object.__setattr__(self, "prover", _address(self.prover, "voucher prover"))
        object.__setattr__(self, "escrow", _address(self.escrow, "voucher escrow"))
        _integer(self.epoch, "voucher epoch", 0, MAX_UINT64)
        _integer(self.cumulative_amount, "voucher cumulative_amount", 1, MAX_UINT128)
        _integer(self.chain_id, "voucher chain_id", 1, MAX_UINT256)

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain: ("ghostproof CreditEscrow", "1", chain id, escrow)."""
        return Domain(DOMAIN_NAME, DOMAIN_VERSION, self.chain_id, self.escrow)

    def _message(self) -> dict[str, object]:
        return {
            "client": self.client,
            "prover": self.prover,
            "epoch": self.epoch,
            "cumulativeAmount": self.cumulative_amount,
        }

    def typed_data(self) -> dict[str, object]:
        """The EIP-712 typed-data document (eth_signTypedData_v4 form)."""
        return typed_data(self.domain, VOUCHER_TYPE, self._message())

    def digest(self) -> bytes:
        """The 32-byte EIP-712 digest the client signs (CreditEscrow.voucherDigest)."""
        return typed_data_digest(self.domain, VOUCHER_TYPE, self._message())

    def to_json(self) -> dict[str, object]:
        """Wire form: addresses checksummed, the epoch and chain id as JSON integers, the
        amount as a decimal string."""
        return {
            "client": self.client,
            "prover": self.prover,
            "epoch": self.epoch,
            "cumulativeAmount": str(self.cumulative_amount),
            "chainId": self.chain_id,
            "escrow": self.escrow,
        }

    @classmethod
    def from_json(cls, obj: object) -> Voucher:
        """Parse the wire form; raise VoucherError on any deviation (a missing or extra key,
        an epoch or chain id that is not a JSON integer in range, a non-canonical amount)."""
        if not isinstance(obj, dict) or set(obj) != _WIRE_KEYS:
            raise VoucherError(f"voucher must have exactly {sorted(_WIRE_KEYS)}")
        amount = obj["cumulativeAmount"]
        if not isinstance(amount, str) or _AMOUNT_RE.fullmatch(amount) is None:
            raise VoucherError(
                "voucher cumulativeAmount must be a decimal string (ASCII digits, no leading zero)"
            )
        return cls(
            obj["client"], obj["prover"], obj["epoch"], int(amount), obj["chainId"], obj["escrow"]
        )


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
    prover: str,
    escrow: str,
    chain_id: int,
    channel: ChannelState,
    now: int,
    margin: int,
    previous: int = 0,
    signed_by: str | None = None,
) -> int:
    """Validate a voucher for this node against its channel; return the newly owed amount.

    ``prover``, ``escrow`` and ``chain_id`` are this node's own (a voucher for anything else
    would only revert on-chain: work for free); ``channel`` is the channel's on-chain state;
    ``now`` the current Unix time; ``margin`` the seconds the prover needs to get a redeem
    mined; ``previous`` the last amount this node accepted in the channel's current epoch.
    Raises VoucherError unless the voucher names this prover, escrow and chain, the client
    signed it, it names the channel's current epoch, no withdrawal of the channel falls due
    within ``margin`` of ``now``, it is above both ``previous`` and the on-chain ``redeemed``
    total (no replay) and it does not exceed ``deposited`` (no over-spend). Changes nothing.
    ``signed_by`` is the signer the caller already recovered from this very voucher and
    signature (the node authenticates first): given, the recovery is not repeated.
    """
    if not isinstance(margin, int) or margin < 0:
        raise ValueError(f"margin must be a non-negative number of seconds, got {margin!r}")
    expected = (
        ("prover", voucher.prover, _address(prover, "expected prover")),
        ("escrow", voucher.escrow, _address(escrow, "expected escrow")),
        ("chainId", voucher.chain_id, chain_id),
    )
    for field, got, want in expected:
        if got != want:
            raise VoucherError(f"voucher {field} is {got}, expected {want}")
    signer = signed_by if signed_by is not None else recover_voucher_signer(voucher, signature)
    if signer != voucher.client:
        raise VoucherError(f"voucher signed by {signer}, not by the client {voucher.client}")
    if voucher.epoch != channel.epoch:
        raise VoucherError(
            f"voucher epoch is {voucher.epoch}, expected {channel.epoch} (the channel's current epoch)"
        )
    if channel.withdrawal_due_within(now, margin):
        raise VoucherError(
            f"the channel's withdrawal falls due at {channel.withdrawable_at}, before a redeem "
            f"could be mined (now {now}, margin {margin} s)"
        )
    redeemed, deposited = channel.redeemed, channel.deposited
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
