// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title BN254
 * @notice The BN254 (alt_bn128) curve through the EVM precompiles: ecAdd (0x06), ecMul
 * (0x07), the pairing check (0x08, EIP-197/1108) and modexp (0x05) for square roots, plus
 * hash-to-G1 by try-and-increment with keccak — the scheme of EigenLayer's BN254.hashToG1
 * (Layr-Labs/eigenlayer-middleware, src/libraries/BN254.sol), which protocol/bls.py
 * reproduces bit for bit.
 * @dev G2 coordinates are in the precompile's order: an element a·i + b of F_p² is the pair
 * (a, b), imaginary part first. Functions return a success flag instead of reverting, so
 * the calling contract reverts with its own custom error. Precompile calls get exactly
 * their EIP-1108 price, so an invalid point burns that and no more.
 */
library BN254 {
    /// @notice The base field modulus p.
    uint256 internal constant P =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice The group order r (the scalar field modulus).
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice (p + 1) / 4: since p ≡ 3 mod 4, beta^((p+1)/4) is a square root of beta.
    uint256 internal constant SQRT_EXPONENT =
        0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52;
    /// @notice Most x candidates hashToG1 tries; each is a point with probability ~1/2.
    uint256 internal constant MAX_HASH_TRIES = 256;

    // The G2 generator, negated (its y negated), in precompile order (imaginary part first).
    uint256 internal constant NEG_G2_X_IM =
        11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 internal constant NEG_G2_X_RE =
        10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 internal constant NEG_G2_Y_IM =
        17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 internal constant NEG_G2_Y_RE =
        13392588948715843804641432497768002650278120570034223513918757245338268106653;

    uint256 private constant EC_ADD_GAS = 150;
    uint256 private constant EC_MUL_GAS = 6000;
    uint256 private constant PAIRING_2_GAS = 45000 + 2 * 34000;

    /// @notice A point of G1; (0, 0) is the point at infinity.
    struct G1Point {
        uint256 x;
        uint256 y;
    }

    /// @notice A point of G2, coordinates in precompile order: x = [x_im, x_re], y = [y_im, y_re].
    struct G2Point {
        uint256[2] x;
        uint256[2] y;
    }

    /// @notice a + b; ok is false when either is not a point of the curve.
    function add(G1Point memory a, G1Point memory b) internal view returns (G1Point memory r, bool ok) {
        uint256[4] memory input = [a.x, a.y, b.x, b.y];
        assembly ("memory-safe") {
            ok := staticcall(EC_ADD_GAS, 0x06, input, 0x80, r, 0x40)
        }
    }

    /// @notice s·p; ok is false when p is not a point of the curve.
    function mul(G1Point memory p, uint256 s) internal view returns (G1Point memory r, bool ok) {
        uint256[3] memory input = [p.x, p.y, s];
        assembly ("memory-safe") {
            ok := staticcall(EC_MUL_GAS, 0x07, input, 0x60, r, 0x40)
        }
    }

    /// @notice −p (the point at infinity stays itself).
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.x == 0 && p.y == 0) return p;
        return G1Point(p.x, P - (p.y % P));
    }

    /// @notice keccak256(x ‖ y): the id of a public key.
    function hashG1(G1Point memory p) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(p.x, p.y));
    }

    /**
     * @notice Whether e(a1, a2)·e(b1, b2) == 1.
     * @return ok false when the precompile rejected an input (a point off the curve or,
     * for G2, outside the r-torsion subgroup)
     * @return valid the result of the check (false when not ok)
     */
    function pairing2(G1Point memory a1, G2Point memory a2, G1Point memory b1, G2Point memory b2)
        internal
        view
        returns (bool ok, bool valid)
    {
        uint256[12] memory input = [
            a1.x, a1.y, a2.x[0], a2.x[1], a2.y[0], a2.y[1],
            b1.x, b1.y, b2.x[0], b2.x[1], b2.y[0], b2.y[1]
        ];
        uint256[1] memory out;
        assembly ("memory-safe") {
            ok := staticcall(PAIRING_2_GAS, 0x08, input, 0x180, out, 0x20)
        }
        valid = ok && out[0] == 1;
    }

    /// @notice −G2, the negated generator of G2.
    function negGeneratorG2() internal pure returns (G2Point memory) {
        return G2Point([NEG_G2_X_IM, NEG_G2_X_RE], [NEG_G2_Y_IM, NEG_G2_Y_RE]);
    }

    /**
     * @notice Hash a 32-byte message to G1 by try-and-increment: x = message mod p, then
     * x + 1, … until x³ + 3 is a square; y = (x³ + 3)^((p+1)/4).
     * @dev Loops at most {MAX_HASH_TRIES} times (a failure has probability ~2^-256);
     * ok is false then, or when the modexp precompile fails.
     */
    function hashToG1(bytes32 message) internal view returns (G1Point memory point, bool ok) {
        uint256 x = uint256(message) % P;
        for (uint256 i = 0; i < MAX_HASH_TRIES; ++i) {
            uint256 beta = addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
            uint256 y;
            (y, ok) = _expMod(beta, SQRT_EXPONENT);
            if (!ok) return (point, false);
            if (mulmod(y, y, P) == beta) return (G1Point(x, y), true);
            x = addmod(x, 1, P);
        }
        return (point, false);
    }

    /// @dev base^exponent mod p through the modexp precompile (its price varies by fork, so
    /// it gets all the gas left).
    function _expMod(uint256 base, uint256 exponent) private view returns (uint256 result, bool ok) {
        uint256[6] memory input = [uint256(0x20), 0x20, 0x20, base, exponent, P];
        uint256[1] memory out;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x05, input, 0xc0, out, 0x20)
        }
        result = out[0];
    }
}
