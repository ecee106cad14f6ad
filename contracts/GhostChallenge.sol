// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GhostHash} from "./GhostHash.sol";

/**
 * @title GhostChallenge
 * @notice What a selection challenge checks besides the receipt (DESIGN §6), byte for byte
 * as protocol/hashing.py and protocol/layer.py compute it: the leaf of one K column, its
 * Merkle path to the layer's K root, and the exact integer score q·K_j.
 * @dev Column leaf: keccak256(0x00 ‖ uint16 layer ‖ uint8 0 ‖ uint32 column ‖ int8 bytes).
 * The path is the plain list of siblings from the leaf up; the column index gives the side
 * at each level. Its length is the tree depth ceil(log2 N), which the contract does not
 * know: a path of another length cannot reproduce the root without a keccak collision,
 * because leaves (tag 0x00) and nodes (tag 0x01) are domain-separated and the leaf binds
 * the column index.
 */
library GhostChallenge {
    /// @notice Deepest column tree a path may claim (2^32 columns, the uint32 index range).
    uint256 internal constant MAX_DEPTH = 32;

    /// @notice K column `column` of layer `layer`: the leaf of DESIGN §2 (matrix tag 0).
    function keyLeaf(uint16 layer, uint32 column, bytes calldata values) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), layer, uint8(0), column, values));
    }

    /**
     * @notice The K root that column `column` (its leaf `leaf`) and its Merkle path reproduce,
     * or bytes32(0) when the path is longer than {MAX_DEPTH} or too short to hold the index.
     * @dev Loops once per sibling: bounded by {MAX_DEPTH}.
     */
    function processKeyPath(bytes32 leaf, uint32 column, bytes32[] calldata path)
        internal
        pure
        returns (bytes32 node)
    {
        uint256 depth = path.length;
        if (depth > MAX_DEPTH || (depth < MAX_DEPTH && uint256(column) >> depth != 0)) {
            return bytes32(0);
        }
        node = leaf;
        uint256 position = column;
        for (uint256 i = 0; i < depth; ++i) {
            node = (position & 1) == 0
                ? GhostHash.nodeHash(node, path[i])
                : GhostHash.nodeHash(path[i], node);
            position >>= 1;
        }
    }

    /**
     * @notice The exact integer score Σ_i int8(q_i)·int8(column_i) (protocol/layer.py).
     * @dev Requires equal lengths (the caller checks). Whole 32-byte words are multiplied by
     * an unrolled body (about 45 gas a byte, half a loop's cost), the tail byte by byte; both
     * loops are bounded by the calldata length. |score| ≤ 127·128·length, far inside int256.
     */
    function score(bytes calldata q, bytes calldata column) internal pure returns (int256 total) {
        assembly ("memory-safe") {
            function dot32(a, b) -> s {
                s := add(s, mul(signextend(0, byte(0, a)), signextend(0, byte(0, b))))
                s := add(s, mul(signextend(0, byte(1, a)), signextend(0, byte(1, b))))
                s := add(s, mul(signextend(0, byte(2, a)), signextend(0, byte(2, b))))
                s := add(s, mul(signextend(0, byte(3, a)), signextend(0, byte(3, b))))
                s := add(s, mul(signextend(0, byte(4, a)), signextend(0, byte(4, b))))
                s := add(s, mul(signextend(0, byte(5, a)), signextend(0, byte(5, b))))
                s := add(s, mul(signextend(0, byte(6, a)), signextend(0, byte(6, b))))
                s := add(s, mul(signextend(0, byte(7, a)), signextend(0, byte(7, b))))
                s := add(s, mul(signextend(0, byte(8, a)), signextend(0, byte(8, b))))
                s := add(s, mul(signextend(0, byte(9, a)), signextend(0, byte(9, b))))
                s := add(s, mul(signextend(0, byte(10, a)), signextend(0, byte(10, b))))
                s := add(s, mul(signextend(0, byte(11, a)), signextend(0, byte(11, b))))
                s := add(s, mul(signextend(0, byte(12, a)), signextend(0, byte(12, b))))
                s := add(s, mul(signextend(0, byte(13, a)), signextend(0, byte(13, b))))
                s := add(s, mul(signextend(0, byte(14, a)), signextend(0, byte(14, b))))
                s := add(s, mul(signextend(0, byte(15, a)), signextend(0, byte(15, b))))
                s := add(s, mul(signextend(0, byte(16, a)), signextend(0, byte(16, b))))
                s := add(s, mul(signextend(0, byte(17, a)), signextend(0, byte(17, b))))
                s := add(s, mul(signextend(0, byte(18, a)), signextend(0, byte(18, b))))
                s := add(s, mul(signextend(0, byte(19, a)), signextend(0, byte(19, b))))
                s := add(s, mul(signextend(0, byte(20, a)), signextend(0, byte(20, b))))
                s := add(s, mul(signextend(0, byte(21, a)), signextend(0, byte(21, b))))
                s := add(s, mul(signextend(0, byte(22, a)), signextend(0, byte(22, b))))
                s := add(s, mul(signextend(0, byte(23, a)), signextend(0, byte(23, b))))
                s := add(s, mul(signextend(0, byte(24, a)), signextend(0, byte(24, b))))
                s := add(s, mul(signextend(0, byte(25, a)), signextend(0, byte(25, b))))
                s := add(s, mul(signextend(0, byte(26, a)), signextend(0, byte(26, b))))
                s := add(s, mul(signextend(0, byte(27, a)), signextend(0, byte(27, b))))
                s := add(s, mul(signextend(0, byte(28, a)), signextend(0, byte(28, b))))
                s := add(s, mul(signextend(0, byte(29, a)), signextend(0, byte(29, b))))
                s := add(s, mul(signextend(0, byte(30, a)), signextend(0, byte(30, b))))
                s := add(s, mul(signextend(0, byte(31, a)), signextend(0, byte(31, b))))
            }
            let n := q.length
            let qp := q.offset
            let cp := column.offset
            let whole := and(n, not(31))
            for { let i := 0 } lt(i, whole) { i := add(i, 32) } {
                total := add(total, dot32(calldataload(add(qp, i)), calldataload(add(cp, i))))
            }
            for { let i := whole } lt(i, n) { i := add(i, 1) } {
                let a := signextend(0, byte(0, calldataload(add(qp, i))))
                let b := signextend(0, byte(0, calldataload(add(cp, i))))
                total := add(total, mul(a, b))
            }
        }
    }

    /**
     * @notice Whether `column` is one of the packed indices (4 big-endian bytes each).
     * @dev Loops once per index: bounded by the calldata length (a multiple of 4, checked
     * by the caller).
     */
    function packedContains(bytes calldata packed, uint32 column) internal pure returns (bool found) {
        assembly ("memory-safe") {
            let end := add(packed.offset, packed.length)
            for { let p := packed.offset } lt(p, end) { p := add(p, 4) } {
                if eq(shr(224, calldataload(p)), column) {
                    found := 1
                    break
                }
            }
        }
    }
}
