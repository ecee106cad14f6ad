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
     * @dev Requires equal lengths (the caller checks). Loops once per byte of `q`: bounded by
     * the calldata length. |score| ≤ 127·128·length, far inside int256.
     */
    function score(bytes calldata q, bytes calldata column) internal pure returns (int256 total) {
        assembly ("memory-safe") {
            let n := q.length
            let qp := q.offset
            let cp := column.offset
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let a := signextend(0, byte(0, calldataload(add(qp, i))))
                let b := signextend(0, byte(0, calldataload(add(cp, i))))
                total := add(total, mul(a, b))
            }
        }
    }
}
