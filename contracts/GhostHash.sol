// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title GhostHash
 * @notice The domain-separated keccak256 hashes of the ghostproof commitment (DESIGN §2),
 * byte for byte as protocol/hashing.py computes them, and the opening of one layer root
 * against a model's ghostRoot.
 * @dev Layer-root leaf: keccak256(0x00 ‖ uint16 layer ‖ uint8 matrix ‖ root); node:
 * keccak256(0x01 ‖ left ‖ right); ghostRoot: keccak256(0x03 ‖ headerHash ‖ layersRoot).
 * The layers tree has 2^ceil(log2(2·nLayers)) leaves, missing ones bytes32(0); the root
 * of (layer, matrix) sits at position 2·layer + matrix. OpenZeppelin's MerkleProof
 * hashes differently (sorted pairs, no tags), hence this library.
 *
 * WARNING: a proof is the plain Merkle path (siblings from the leaf up); its length must
 * equal the tree depth exactly, which {processLayerRoot} enforces.
 */
library GhostHash {
    /// @notice Most layers a model may have (protocol/constants.py MAX_LAYERS).
    uint256 internal constant MAX_LAYERS = 64;

    /// @notice nLayers is 0 or above MAX_LAYERS.
    error GhostHashBadLayerCount(uint256 nLayers);
    /// @notice The opened layer is not below nLayers.
    error GhostHashLayerOutOfRange(uint256 layer, uint256 nLayers);
    /// @notice The matrix tag is neither 0 (K) nor 1 (V).
    error GhostHashBadMatrix(uint256 matrix);
    /// @notice The proof does not have exactly one sibling per level of the layers tree.
    error GhostHashBadProofLength(uint256 length, uint256 expected);

    /// @notice Leaf of the layers tree for one layer root.
    function layerRootLeaf(uint16 layer, uint8 matrix, bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), layer, matrix, root));
    }

    /// @notice Internal Merkle node: keccak256(0x01 ‖ left ‖ right).
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x01), left, right));
    }

    /// @notice ghostRoot = keccak256(0x03 ‖ headerHash ‖ layersRoot).
    function ghostRoot(bytes32 headerHash, bytes32 layersRoot) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x03), headerHash, layersRoot));
    }

    /// @notice Depth of the layers tree of a model with nLayers layers: ceil(log2(2·nLayers)).
    /// @dev Bounded: at most 7 iterations since nLayers ≤ MAX_LAYERS.
    function layersDepth(uint256 nLayers) internal pure returns (uint256 depth) {
        if (nLayers == 0 || nLayers > MAX_LAYERS) revert GhostHashBadLayerCount(nLayers);
        uint256 leaves = 2 * nLayers;
        while ((uint256(1) << depth) < leaves) {
            ++depth;
        }
    }

    /**
     * @notice The ghostRoot that a layer root, the header hash and a Merkle path reproduce.
     * @dev Reverts (GhostHash* errors) on an out-of-range layer, a bad matrix tag or a proof
     * of the wrong length; compare the result with the anchored ghostRoot.
     */
    function processLayerRoot(
        uint256 layer,
        uint256 matrix,
        bytes32 root,
        bytes32 headerHash,
        uint256 nLayers,
        bytes32[] calldata proof
    ) internal pure returns (bytes32) {
        uint256 depth = layersDepth(nLayers);
        if (layer >= nLayers) revert GhostHashLayerOutOfRange(layer, nLayers);
        if (matrix > 1) revert GhostHashBadMatrix(matrix);
        if (proof.length != depth) revert GhostHashBadProofLength(proof.length, depth);
        bytes32 node = layerRootLeaf(uint16(layer), uint8(matrix), root);
        uint256 position = 2 * layer + matrix;
        for (uint256 i = 0; i < depth; ++i) {
            node = (position & 1) == 0 ? nodeHash(node, proof[i]) : nodeHash(proof[i], node);
            position >>= 1;
        }
        return ghostRoot(headerHash, node);
    }
}
