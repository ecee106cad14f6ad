// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title GhostReceipt
 * @notice The hashes a ghostproof receipt binds (docs/PROTOCOL.md §7), byte for byte as
 * protocol/receipt.py computes them: the EIP-712 struct hash of a receipt and the selection
 * hash of one layer. GhostRegistry combines the struct hash with its EIP-712 domain
 * ("ghostproof", "2", chainId, the registry) into the digest a prover signs.
 * @dev layerSelection = keccak256(0x05 ‖ uint16 layer ‖ int8[] q ‖ int32 tau ‖ uint32 S[0] ‖ …),
 * tightly packed. `abi.encodePacked` would pad each array element to 32 bytes, so the
 * selected indices are packed by hand.
 */
library GhostReceipt {
    /// @notice EIP-712 type hash of a receipt.
    bytes32 internal constant RECEIPT_TYPEHASH = keccak256(
        "Receipt(uint256 modelId,bytes32 ghostRoot,bytes32 requestHash,bytes32 selectionHash,bytes32 outputHash)"
    );
    /// @notice Domain tag of a layer selection (protocol/constants.py TAG_LAYER_SELECTION).
    bytes1 internal constant TAG_LAYER_SELECTION = 0x05;

    /// @notice hashStruct(Receipt): keccak256(RECEIPT_TYPEHASH ‖ modelId ‖ ghostRoot ‖
    /// requestHash ‖ selectionHash ‖ outputHash), each a 32-byte word.
    function structHash(
        uint256 modelId,
        bytes32 ghostRoot,
        bytes32 requestHash,
        bytes32 selectionHash,
        bytes32 outputHash
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(RECEIPT_TYPEHASH, modelId, ghostRoot, requestHash, selectionHash, outputHash)
        );
    }

    /**
     * @notice Selection hash of one layer: its claimed query, threshold and selected indices.
     * @param layer the layer index ℓ
     * @param q the claimed int8 query q_ℓ, one byte per element (two's complement)
     * @param tau the threshold τ_ℓ
     * @param selected the selected column indices S_ℓ, absolute and ascending as signed
     * @return keccak256(0x05 ‖ uint16 ℓ ‖ q ‖ int32 τ ‖ uint32 S[0] ‖ … ‖ uint32 S[k−1])
     * @dev The loop runs once per element of `selected`, so it is bounded by the calldata
     * length (the caller pays for every index it passes). The hash does not check that
     * `selected` is ascending: a receipt signed over unsorted indices simply hashes them.
     */
    function layerSelectionHash(uint16 layer, bytes calldata q, int32 tau, uint32[] calldata selected)
        internal
        pure
        returns (bytes32)
    {
        uint256 n = selected.length;
        bytes memory packed = abi.encodePacked(TAG_LAYER_SELECTION, layer, q, tau, new bytes(4 * n));
        uint256 start = 7 + q.length; // 1 tag + 2 layer + q + 4 tau
        for (uint256 i = 0; i < n; ++i) {
            uint32 index = selected[i];
            // Write the 4 big-endian bytes of `index` at packed[start + 4i]. mstore writes a
            // whole word: its other 28 bytes land on later elements (rewritten next) or, for
            // the last ones, past the end of `packed` in unallocated memory.
            assembly ("memory-safe") {
                mstore(add(add(packed, 0x20), add(start, mul(i, 4))), shl(224, index))
            }
        }
        return keccak256(packed);
    }

    /**
     * @notice The same selection hash from the indices already packed (4 big-endian bytes
     * each), as a challenge passes them: no loop, one keccak over the calldata.
     */
    function packedLayerSelectionHash(uint16 layer, bytes calldata q, int32 tau, bytes calldata selectedPacked)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(TAG_LAYER_SELECTION, layer, q, tau, selectedPacked));
    }
}
