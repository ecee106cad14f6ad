"""BLS signatures over BN254 for availability attestations (DESIGN §6, docs/ATTESTATIONS.md):
keys, hash-to-G1, signing, aggregation and the two messages — byte for byte what
contracts/GhostAttestations.sol and contracts/BN254.sol compute.

The scheme is EigenLayer's: public keys and signatures in G1 (a key's G2 twin goes with it
for the pairing), hash-to-G1 by try-and-increment with keccak (x = m mod p, x + 1, … until
x³ + 3 is a square; y = (x³ + 3)^((p+1)/4)), and a proof of possession at registration.

Points are plain integers, as the contract takes them: G1 ``(x, y)``, the point at
infinity ``(0, 0)``; G2 ``((x_im, x_re), (y_im, y_re))`` — the pairing precompile's order,
imaginary part first. Pure: py-ecc (optimized_bn128) and keccak, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import is_hex_address, to_checksum_address
from py_ecc import optimized_bn128 as bn

from .errors import AttestationError, FormatError
from .hashing import keccak256
from .jsonlimits import load_json

P = bn.field_modulus
R = bn.curve_order
MAX_HASH_TRIES = 256
_SQRT_EXPONENT = (P + 1) // 4

ATTESTATION_TAG = keccak256(b"ghostproof.attestation.v1")
POSSESSION_TAG = keccak256(b"ghostproof.bls-possession.v1")

G1Point = tuple[int, int]
G2Point = tuple[tuple[int, int], tuple[int, int]]
ZERO_G1: G1Point = (0, 0)
ZERO_G2: G2Point = ((0, 0), (0, 0))


# ---------------------------------------------------------------- conversions


def _g1_from(p: G1Point) -> tuple[bn.FQ, bn.FQ, bn.FQ]:
    if p == ZERO_G1:
        return bn.Z1
    return (bn.FQ(p[0]), bn.FQ(p[1]), bn.FQ.one())


def _g1_to(p: tuple[bn.FQ, bn.FQ, bn.FQ]) -> G1Point:
    if bn.is_inf(p):
        return ZERO_G1
    x, y = bn.normalize(p)
    return (int(x), int(y))


def _g2_from(p: G2Point) -> tuple[bn.FQ2, bn.FQ2, bn.FQ2]:
    if p == ZERO_G2:
        return bn.Z2
    (x_im, x_re), (y_im, y_re) = p
    return (bn.FQ2([x_re, x_im]), bn.FQ2([y_re, y_im]), bn.FQ2.one())


def _g2_to(p: tuple[bn.FQ2, bn.FQ2, bn.FQ2]) -> G2Point:
    if bn.is_inf(p):
        return ZERO_G2
    x, y = bn.normalize(p)
    return ((int(x.coeffs[1]), int(x.coeffs[0])), (int(y.coeffs[1]), int(y.coeffs[0])))


def check_g1(p: G1Point, what: str = "G1 point") -> G1Point:
    """``p`` if it is a point of G1 (coordinates below p, on y² = x³ + 3, or (0, 0));
    AttestationError naming ``what`` otherwise. G1 has cofactor 1: on the curve is in G1."""
    if len(p) != 2 or not all(isinstance(c, int) and 0 <= c < P for c in p):
        raise AttestationError(f"{what} has a coordinate out of range")
    if p != ZERO_G1 and not bn.is_on_curve(_g1_from(p), bn.b):
        raise AttestationError(f"{what} is not on the BN254 curve")
    return p


def check_g2(p: G2Point, what: str = "G2 point") -> G2Point:
    """``p`` if it is a point of G2 (on the twist and in its order-r subgroup, as the pairing
    precompile requires); AttestationError naming ``what`` otherwise."""
    coords = [c for pair in p for c in pair]
    if len(coords) != 4 or not all(isinstance(c, int) and 0 <= c < P for c in coords):
        raise AttestationError(f"{what} has a coordinate out of range")
    if p == ZERO_G2:
        return p
    point = _g2_from(p)
    if not bn.is_on_curve(point, bn.b2) or not bn.is_inf(bn.multiply(point, R)):
        raise AttestationError(f"{what} is not a point of BN254's G2")
    return p


# ---------------------------------------------------------------- keys and signatures


def secret_key_from_seed(seed: bytes) -> int:
    """The BLS secret key derived from ``seed`` (at least 32 bytes of secret):
    1 + keccak256("ghostproof.bls-key.v1" ‖ seed) mod (r − 1), never zero."""
    if len(seed) < 32:
        raise AttestationError("a BLS key seed must hold at least 32 bytes")
    return 1 + int.from_bytes(keccak256(b"ghostproof.bls-key.v1" + seed), "big") % (R - 1)


def _check_secret(sk: int) -> int:
    if not 0 < sk < R:
        raise AttestationError("a BLS secret key must be in [1, r)")
    return sk


def public_key_g1(sk: int) -> G1Point:
    """sk·G1, the key the contract aggregates and names auditors by."""
    return _g1_to(bn.multiply(bn.G1, _check_secret(sk)))


def public_key_g2(sk: int) -> G2Point:
    """sk·G2, the twin of the G1 key that the pairing check needs."""
    return _g2_to(bn.multiply(bn.G2, _check_secret(sk)))


def pubkey_hash(pk: G1Point) -> bytes:
    """keccak256(x ‖ y), the id the contract gives a key (and the order of non-signers)."""
    return keccak256(pk[0].to_bytes(32, "big") + pk[1].to_bytes(32, "big"))


def hash_to_g1(message: bytes) -> G1Point:
    """H(message) for a 32-byte message, by try-and-increment exactly as BN254.hashToG1:
    x = message mod p; the first x, x + 1, … with x³ + 3 a square; y = (x³ + 3)^((p+1)/4).
    AttestationError for another length, or in the ~2^-256 case of no point in 256 tries."""
    if len(message) != 32:
        raise AttestationError(f"a message to hash to G1 has 32 bytes, not {len(message)}")
    x = int.from_bytes(message, "big") % P
    for _ in range(MAX_HASH_TRIES):
        beta = (x * x % P * x + 3) % P
        y = pow(beta, _SQRT_EXPONENT, P)
        if y * y % P == beta:
            return (x, y)
        x = (x + 1) % P
    raise AttestationError(f"no G1 point found for message 0x{message.hex()}")


def sign(sk: int, message: bytes) -> G1Point:
    """The signature sk·H(message) of a 32-byte message."""
    return _g1_to(bn.multiply(_g1_from(hash_to_g1(message)), _check_secret(sk)))


def aggregate_g1(points: Iterable[G1Point]) -> G1Point:
    """The sum of G1 points (signatures or keys); (0, 0) for none."""
    total = bn.Z1
    for p in points:
        total = bn.add(total, _g1_from(p))
    return _g1_to(total)


def aggregate_g2(points: Iterable[G2Point]) -> G2Point:
    """The sum of G2 points (the signers' aggregate key apkG2)."""
    total = bn.Z2
    for p in points:
        total = bn.add(total, _g2_from(p))
    return _g2_to(total)


def negate_g1(p: G1Point) -> G1Point:
    """−p."""
    return ZERO_G1 if p == ZERO_G1 else (p[0], (P - p[1]) % P)


def verify(pk_g1: G1Point, pk_g2: G2Point, message: bytes, sigma: G1Point) -> bool:
    """Whether ``sigma`` signs ``message`` under the key and its two halves match:
    e(σ, G2) = e(H(m), pkG2) and e(pk, G2) = e(G1, pkG2). Four Miller loops and one final
    exponentiation in pure Python (about a second): for tests and vectors; the contract's
    ``verifySignature`` view makes the same check natively."""
    check_g1(pk_g1, "public key")
    check_g1(sigma, "signature")
    check_g2(pk_g2, "G2 public key")
    h = _g1_from(hash_to_g1(message))
    q = _g2_from(pk_g2)
    neg_g2 = bn.neg(bn.G2)
    product = (
        bn.pairing(neg_g2, _g1_from(sigma), final_exponentiate=False)
        * bn.pairing(q, h, final_exponentiate=False)
        * bn.pairing(neg_g2, _g1_from(pk_g1), final_exponentiate=False)
        * bn.pairing(q, bn.G1, final_exponentiate=False)
    )
    return bn.final_exponentiate(product) == bn.FQ12.one()


# ---------------------------------------------------------------- messages


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:] if address.startswith("0x") else address)
    if len(raw) != 20:
        raise AttestationError(f"{address!r} is not a 20-byte address")
    return bytes(12) + raw


def attestation_message(
    chain_id: int, attestations: str, registry: str, model_id: int, ghost_root: bytes, epoch: int
) -> bytes:
    """What auditors sign: keccak256(abi.encode(ATTESTATION_TAG, chainId, attestations
    contract, registry, modelId, ghostRoot, uint64 epoch)) — GhostAttestations.attestationMessage."""
    if len(ghost_root) != 32:
        raise AttestationError("a ghostRoot has 32 bytes")
    if not 0 <= epoch < 1 << 64:
        raise AttestationError(f"epoch {epoch} does not fit a uint64")
    return keccak256(
        ATTESTATION_TAG + _word(chain_id) + _address_word(attestations) + _address_word(registry)
        + _word(model_id) + ghost_root + _word(epoch)
    )


def possession_message(chain_id: int, attestations: str, auditor: str, pk: G1Point) -> bytes:
    """What an auditor signs to prove it holds ``pk``'s secret: keccak256(abi.encode(
    POSSESSION_TAG, chainId, attestations contract, auditor, pk.x, pk.y)) —
    GhostAttestations.possessionMessage. Binding the auditor's address stops anyone from
    replaying another's proof."""
    return keccak256(
        POSSESSION_TAG + _word(chain_id) + _address_word(attestations) + _address_word(auditor)
        + _word(pk[0]) + _word(pk[1])
    )


# ---------------------------------------------------------------- JSON forms


def g1_to_json(p: G1Point) -> list[str]:
    """``["0x…", "0x…"]`` (x, y as 0x-prefixed 64-hex-digit strings)."""
    return [f"0x{c:064x}" for c in p]


def g2_to_json(p: G2Point) -> list[list[str]]:
    """``[[x_im, x_re], [y_im, y_re]]`` as 0x-hex strings (precompile order)."""
    return [[f"0x{c:064x}" for c in pair] for pair in p]


def _int(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise AttestationError(f"{what} must be a 0x-hex coordinate")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise AttestationError(f"{what} must be a 0x-hex coordinate") from exc


def _pair(value: object, what: str) -> tuple[object, object]:
    if not isinstance(value, list) or len(value) != 2:
        raise AttestationError(f"{what} must be a list of two coordinates")
    return value[0], value[1]


def g1_from_json(value: object, what: str = "G1 point") -> G1Point:
    """Parse :func:`g1_to_json`'s form and check the point (:func:`check_g1`)."""
    x, y = _pair(value, what)
    return check_g1((_int(x, what), _int(y, what)), what)


def g2_from_json(value: object, what: str = "G2 point") -> G2Point:
    """Parse :func:`g2_to_json`'s form and check the point (:func:`check_g2`)."""
    xs, ys = _pair(value, what)
    x_im, x_re = _pair(xs, what)
    y_im, y_re = _pair(ys, what)
    point = ((_int(x_im, what), _int(x_re, what)), (_int(y_im, what), _int(y_re, what)))
    return check_g2(point, what)


# ---------------------------------------------------------------- signature files

SIGNATURE_KIND = "ghostproof.attestation"
SIGNATURE_VERSION = 1
MAX_SIGNATURE_FILE_BYTES = 4096


@dataclass(frozen=True)
class SignedAttestation:
    """One auditor's signed attestation (the file ``ghostproof attest`` writes): the message's
    fields, the auditor's address and key (both halves), and the signature sk·H(message)."""

    chain_id: int
    attestations: str
    registry: str
    model_id: int
    ghost_root: bytes
    epoch: int
    auditor: str
    pubkey_g1: G1Point
    pubkey_g2: G2Point
    signature: G1Point

    @property
    def message(self) -> bytes:
        """The signed message, :func:`attestation_message` of the fields."""
        return attestation_message(self.chain_id, self.attestations, self.registry,
                                   self.model_id, self.ghost_root, self.epoch)

    @property
    def statement(self) -> tuple[int, str, str, int, bytes, int]:
        """What signatures must share to aggregate: (chain, contract, registry, model, root, epoch)."""
        return (self.chain_id, self.attestations.lower(), self.registry.lower(), self.model_id,
                self.ghost_root, self.epoch)

    def to_json(self) -> dict[str, object]:
        """The file's JSON object (``message`` is informative: readers recompute it)."""
        return {
            "kind": SIGNATURE_KIND,
            "version": SIGNATURE_VERSION,
            "chainId": self.chain_id,
            "attestations": self.attestations,
            "registry": self.registry,
            "modelId": self.model_id,
            "ghostRoot": "0x" + self.ghost_root.hex(),
            "epoch": self.epoch,
            "auditor": self.auditor,
            "pubkeyG1": g1_to_json(self.pubkey_g1),
            "pubkeyG2": g2_to_json(self.pubkey_g2),
            "signature": g1_to_json(self.signature),
            "message": "0x" + self.message.hex(),
        }

    @classmethod
    def from_json(cls, obj: object, source: str = "signature file") -> SignedAttestation:
        """Parse and check a signature file's object (kind, version, field types, points on
        their curves); AttestationError naming ``source`` otherwise. The signature itself is
        checked by the contract (``verifySignature``), not here."""
        if not isinstance(obj, dict) or obj.get("kind") != SIGNATURE_KIND:
            raise AttestationError(f"{source} is not a ghostproof attestation")
        if obj.get("version") != SIGNATURE_VERSION:
            raise AttestationError(f"{source} has version {obj.get('version')!r}, not {SIGNATURE_VERSION}")
        try:
            signed = cls(
                chain_id=_uint(obj["chainId"], 256, "chainId"),
                attestations=_address(obj["attestations"], "attestations"),
                registry=_address(obj["registry"], "registry"),
                model_id=_uint(obj["modelId"], 256, "modelId"),
                ghost_root=_root(obj["ghostRoot"]),
                epoch=_uint(obj["epoch"], 64, "epoch"),
                auditor=_address(obj["auditor"], "auditor"),
                pubkey_g1=g1_from_json(obj["pubkeyG1"], "pubkeyG1"),
                pubkey_g2=g2_from_json(obj["pubkeyG2"], "pubkeyG2"),
                signature=g1_from_json(obj["signature"], "signature"),
            )
        except KeyError as exc:
            raise AttestationError(f"{source} lacks the field {exc.args[0]!r}") from exc
        except AttestationError as exc:
            raise AttestationError(f"{source}: {exc}") from exc
        if signed.pubkey_g1 == ZERO_G1:
            raise AttestationError(f"{source}: the public key is the point at infinity")
        return signed

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "signature file") -> SignedAttestation:
        """Parse a signature file's bytes (at most MAX_SIGNATURE_FILE_BYTES of JSON)."""
        try:
            obj = load_json(data, what=source, max_bytes=MAX_SIGNATURE_FILE_BYTES)
        except FormatError as exc:
            raise AttestationError(str(exc)) from exc
        return cls.from_json(obj, source)


def _uint(value: object, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise AttestationError(f"{what} must be an integer in [0, 2^{bits})")
    return value


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise AttestationError(f"{what} must be a 0x address")
    return to_checksum_address(value)


def _root(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise AttestationError("ghostRoot must be 0x + 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise AttestationError("ghostRoot must be 0x + 64 hex digits") from exc
