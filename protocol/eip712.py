"""EIP-712 typed-data hashing: the one implementation behind receipts (protocol/receipt.py)
and payment vouchers (protocol/voucher.py), byte for byte what OpenZeppelin's ``EIP712``
computes in GhostRegistry and CreditEscrow.

    hashStruct(s)   = keccak256(typeHash(S) ‖ encodeData(s))
    typeHash(S)     = keccak256("S(type1 name1,type2 name2,…)")
    domainSeparator = hashStruct(EIP712Domain{name, version, chainId, verifyingContract})
    digest          = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))

Only what ghostproof signs is supported: flat structs whose members are static atomic types
(``uint<N>``, ``int<N>``, ``address``, ``bool``, ``bytes<N>``) or ``string`` / ``bytes``
(encoded as their keccak256); no arrays, no nested structs. Every value is checked against
its type (FormatError if it does not fit). Domain separators are cached, so a digest costs
two keccak256 calls and the encoding of its fields. eth-account's ``encode_typed_data`` is
the independent reference in the tests (tests/protocol/test_eip712.py), not a dependency.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import FormatError
from .hashing import from_hex, keccak256

_WORD = 32
_UINT256 = 1 << 256
_ATOMIC_RE = re.compile(r"(uint|int)(\d+)|bytes(\d+)|address|bool|string|bytes")

_Encoder = Callable[[object, str], bytes]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint_encoder(bits: int) -> _Encoder:
    def encode(value: object, what: str) -> bytes:
        if not _is_int(value) or not 0 <= value < 1 << bits:  # type: ignore[operator]
            raise FormatError(f"{what} must be an integer in 0..2^{bits}-1")
        return value.to_bytes(_WORD, "big")  # type: ignore[union-attr]

    return encode


def _int_encoder(bits: int) -> _Encoder:
    bound = 1 << (bits - 1)

    def encode(value: object, what: str) -> bytes:
        if not _is_int(value) or not -bound <= value < bound:  # type: ignore[operator]
            raise FormatError(f"{what} must be an integer in -2^{bits - 1}..2^{bits - 1}-1")
        return (value % _UINT256).to_bytes(_WORD, "big")  # type: ignore[operator]

    return encode


def _fixed_bytes_encoder(size: int) -> _Encoder:
    def encode(value: object, what: str) -> bytes:
        if not isinstance(value, bytes | bytearray) or len(value) != size:
            raise FormatError(f"{what} must be {size} bytes")
        return bytes(value).ljust(_WORD, b"\x00")

    return encode


def _encode_address(value: object, what: str) -> bytes:
    return bytes(12) + from_hex(value, what, 20)


def _encode_bool(value: object, what: str) -> bytes:
    if not isinstance(value, bool):
        raise FormatError(f"{what} must be a bool")
    return int(value).to_bytes(_WORD, "big")


def _encode_string(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"{what} must be a string")
    return keccak256(value.encode("utf-8"))


def _encode_dynamic_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise FormatError(f"{what} must be bytes")
    return keccak256(bytes(value))


_NAMED_ENCODERS: dict[str, _Encoder] = {
    "address": _encode_address,
    "bool": _encode_bool,
    "string": _encode_string,
    "bytes": _encode_dynamic_bytes,
}


def field_encoder(sol_type: str) -> _Encoder:
    """The ``encodeData`` function of one member type: ``(value, what) -> 32 bytes``.

    Raises ValueError for a type this module does not support (a programming error, found
    when a StructType is defined); the returned function raises FormatError, naming
    ``what``, for a value that does not fit the type.
    """
    match = _ATOMIC_RE.fullmatch(sol_type)
    if match is None:
        raise ValueError(f"unsupported EIP-712 member type {sol_type!r}")
    kind, bits, size = match.groups()
    if kind is not None:
        n = int(bits)
        if not (n % 8 == 0 and 8 <= n <= 256 and bits == str(n)):
            raise ValueError(f"unsupported EIP-712 integer type {sol_type!r}")
        return _uint_encoder(n) if kind == "uint" else _int_encoder(n)
    if size is not None:
        if not (1 <= int(size) <= _WORD and size == str(int(size))):
            raise ValueError(f"unsupported EIP-712 bytes type {sol_type!r}")
        return _fixed_bytes_encoder(int(size))
    return _NAMED_ENCODERS[sol_type]


@dataclass(frozen=True)
class StructType:
    """A flat EIP-712 struct type: its name and its members ``(name, solidity type)`` in
    order. ``type_string`` is ``encodeType`` and ``typehash`` its keccak256."""

    name: str
    members: tuple[tuple[str, str], ...]
    type_string: str = field(init=False, repr=False, compare=False)
    typehash: bytes = field(init=False, repr=False, compare=False)
    _encoders: tuple[_Encoder, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoders = tuple(field_encoder(sol_type) for _, sol_type in self.members)
        names = [name for name, _ in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"struct {self.name} repeats a member name")
        text = f"{self.name}({','.join(f'{t} {n}' for n, t in self.members)})"
        object.__setattr__(self, "type_string", text)
        object.__setattr__(self, "typehash", keccak256(text.encode("ascii")))
        object.__setattr__(self, "_encoders", encoders)

    def eip712_types(self) -> list[dict[str, str]]:
        """The members in eth_signTypedData_v4 form: ``[{"name": …, "type": …}, …]``."""
        return [{"name": name, "type": sol_type} for name, sol_type in self.members]


def hash_struct(struct_type: StructType, values: Mapping[str, object]) -> bytes:
    """``hashStruct``: keccak256(typeHash ‖ encodeData(values)).

    ``values`` maps exactly the struct's member names to their values; FormatError if a
    member is missing or extra, or a value does not fit its type.
    """
    if len(values) != len(struct_type.members):
        raise FormatError(
            f"{struct_type.name} takes exactly {[n for n, _ in struct_type.members]}, "
            f"got {sorted(values)}"
        )
    parts = [struct_type.typehash]
    for (name, _), encode in zip(struct_type.members, struct_type._encoders, strict=True):
        if name not in values:
            raise FormatError(f"{struct_type.name} is missing {name}")
        parts.append(encode(values[name], f"{struct_type.name}.{name}"))
    return keccak256(b"".join(parts))


EIP712_DOMAIN = StructType(
    "EIP712Domain",
    (("name", "string"), ("version", "string"), ("chainId", "uint256"),
     ("verifyingContract", "address")),
)


@dataclass(frozen=True)
class Domain:
    """An ``EIP712Domain(string name,string version,uint256 chainId,address
    verifyingContract)``: who a signature is for (the protocol, its version, the chain and
    the contract that checks it)."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    @property
    def separator(self) -> bytes:
        """This domain's separator (cached; see :func:`domain_separator`)."""
        return domain_separator(self.name, self.version, self.chain_id, self.verifying_contract)

    def to_json(self) -> dict[str, object]:
        """The domain object of an eth_signTypedData_v4 document."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@lru_cache(maxsize=256, typed=True)
def domain_separator(name: str, version: str, chain_id: int, verifying_contract: str) -> bytes:
    """``hashStruct(EIP712Domain)`` of the domain (name, version, chainId, verifyingContract),
    what OpenZeppelin's ``_domainSeparatorV4()`` returns for a contract at
    ``verifying_contract`` on chain ``chain_id``. FormatError if a value does not fit its
    type (chain id beyond uint256, an address that is not 0x + 20 bytes of hex)."""
    return hash_struct(
        EIP712_DOMAIN,
        {"name": name, "version": version, "chainId": chain_id,
         "verifyingContract": verifying_contract},
    )


def typed_data_digest(domain: Domain, struct_type: StructType, values: Mapping[str, object]) -> bytes:
    """The 32-byte digest a signer signs: keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖
    hashStruct(values)). FormatError if ``values`` do not fit ``struct_type``."""
    return keccak256(b"\x19\x01" + domain.separator + hash_struct(struct_type, values))


def typed_data(domain: Domain, struct_type: StructType, values: Mapping[str, object]) -> dict[str, object]:
    """The eth_signTypedData_v4 document of a message (for wallets that sign typed data):
    ``{"types", "primaryType", "domain", "message"}``. Its digest is
    :func:`typed_data_digest` of the same arguments."""
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN.eip712_types(),
            struct_type.name: struct_type.eip712_types(),
        },
        "primaryType": struct_type.name,
        "domain": domain.to_json(),
        "message": dict(values),
    }
