// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {GhostHash} from "./GhostHash.sol";
import {GhostReceipt} from "./GhostReceipt.sol";

/**
 * @title GhostRegistry
 * @notice Where a prover anchors a model: its ghostRoot, the CID of its ghost file, its
 * price per query, the selection margin challenges allow for, and a stake in credits.
 * Every change emits an event. Any layer root can be opened against the ghostRoot.
 * Receipts are signed for this contract: the EIP-712 domain ("ghostproof", "2", chainId,
 * this registry), version "2" being the protocol format version; {receiptDigest} and
 * {layerSelectionHash} recompute what protocol/receipt.py signs.
 * @dev The ghost file's CID is always CIDv1 / raw / sha2-256 (DESIGN §4), so the registry
 * stores only its 32-byte sha2-256 digest; clients rebuild the CID from it. A retired
 * model keeps its stake for {unbondingPeriod} (so challenges can still reach it), then
 * the prover withdraws it.
 */
contract GhostRegistry is EIP712 {
    using SafeERC20 for IERC20;

    /// @notice One registered model (4 storage slots).
    struct Model {
        bytes32 ghostRoot;
        bytes32 ghostCidDigest;
        address prover;
        uint96 pricePerQuery;
        uint96 stake;
        uint32 selectionMargin;
        uint64 unbondingEndsAt;
        bool active;
    }

    /// @notice The credit token stakes are paid in.
    IERC20 public immutable credit;
    /// @notice Smallest stake a model may be registered with.
    uint96 public immutable minStake;
    /// @notice Seconds a retired model's stake stays locked.
    uint64 public immutable unbondingPeriod;
    /// @dev The id the next registration gets; starts at 1 (set in the constructor, so the
    /// first registration does not pay for a zero-to-nonzero counter write).
    uint256 private _nextModelId;

    mapping(uint256 modelId => Model) private _models;

    /// @notice ghostRoot is zero.
    error GhostRegistryZeroRoot();
    /// @notice The ghost file CID digest is zero.
    error GhostRegistryZeroCid();
    /// @notice The stake is below {minStake}.
    error GhostRegistryStakeTooLow(uint256 stake, uint256 minimum);
    /// @notice No model has this id.
    error GhostRegistryUnknownModel(uint256 modelId);
    /// @notice Only the model's prover may do this.
    error GhostRegistryNotProver(uint256 modelId, address caller, address prover);
    /// @notice The model is retired.
    error GhostRegistryRetired(uint256 modelId);
    /// @notice The model is still active; retire it first.
    error GhostRegistryStillActive(uint256 modelId);
    /// @notice The stake is still locked until `unbondingEndsAt`.
    error GhostRegistryUnbonding(uint256 modelId, uint256 unbondingEndsAt, uint256 timestamp);
    /// @notice The stake was already withdrawn.
    error GhostRegistryNothingStaked(uint256 modelId);
    /// @notice A stake top-up of zero.
    error GhostRegistryZeroAmount();
    /// @notice The stake would exceed uint96.
    error GhostRegistryStakeOverflow(uint256 modelId, uint256 stake);

    /// @notice A model was registered.
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed prover,
        bytes32 indexed ghostRoot,
        bytes32 ghostCidDigest,
        uint96 pricePerQuery,
        uint32 selectionMargin,
        uint96 stake
    );
    /// @notice A model's price per query changed.
    event PriceUpdated(uint256 indexed modelId, uint96 oldPrice, uint96 newPrice);
    /// @notice A model's stake was topped up.
    event StakeAdded(uint256 indexed modelId, uint96 amount, uint96 stake);
    /// @notice A model was retired; its stake unlocks at `unbondingEndsAt`.
    event ModelRetired(uint256 indexed modelId, uint64 unbondingEndsAt);
    /// @notice A retired model's stake went back to its prover.
    event StakeWithdrawn(uint256 indexed modelId, address indexed prover, uint96 amount);

    /// @param credit_ the credit token
    /// @param minStake_ smallest stake accepted by {register}
    /// @param unbondingPeriod_ seconds a retired model's stake stays locked
    constructor(IERC20 credit_, uint96 minStake_, uint64 unbondingPeriod_) EIP712("ghostproof", "2") {
        credit = credit_;
        minStake = minStake_;
        unbondingPeriod = unbondingPeriod_;
        _nextModelId = 1;
    }

    /// @notice Number of models registered so far; model ids run from 1 to modelCount.
    function modelCount() external view returns (uint256) {
        return _nextModelId - 1;
    }

    /**
     * @notice Register a model served by the caller, pulling `stake` credits from it
     * (approve this contract first).
     * @param ghostRoot the model's ghostRoot (DESIGN §2)
     * @param ghostCidDigest sha2-256 digest of the ghost file (its CIDv1/raw CID)
     * @param pricePerQuery credits per query
     * @param selectionMargin score margin a challenge must beat (DESIGN §6)
     * @param stake credits staked, at least {minStake}
     * @return modelId the new model's id
     */
    function register(
        bytes32 ghostRoot,
        bytes32 ghostCidDigest,
        uint96 pricePerQuery,
        uint32 selectionMargin,
        uint96 stake
    ) external returns (uint256 modelId) {
        if (ghostRoot == bytes32(0)) revert GhostRegistryZeroRoot();
        if (ghostCidDigest == bytes32(0)) revert GhostRegistryZeroCid();
        if (stake < minStake) revert GhostRegistryStakeTooLow(stake, minStake);
        modelId = _nextModelId++;
        _models[modelId] = Model({
            ghostRoot: ghostRoot,
            ghostCidDigest: ghostCidDigest,
            prover: msg.sender,
            pricePerQuery: pricePerQuery,
            stake: stake,
            selectionMargin: selectionMargin,
            unbondingEndsAt: 0,
            active: true
        });
        emit ModelRegistered(
            modelId, msg.sender, ghostRoot, ghostCidDigest, pricePerQuery, selectionMargin, stake
        );
        credit.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Change an active model's price per query (its prover only).
    function updatePrice(uint256 modelId, uint96 newPrice) external {
        Model storage model = _activeModelOf(modelId);
        uint96 oldPrice = model.pricePerQuery;
        model.pricePerQuery = newPrice;
        emit PriceUpdated(modelId, oldPrice, newPrice);
    }

    /// @notice Add `amount` credits to an active model's stake (its prover only).
    function addStake(uint256 modelId, uint96 amount) external {
        if (amount == 0) revert GhostRegistryZeroAmount();
        Model storage model = _activeModelOf(modelId);
        uint256 stake = uint256(model.stake) + amount;
        if (stake > type(uint96).max) revert GhostRegistryStakeOverflow(modelId, stake);
        model.stake = uint96(stake);
        emit StakeAdded(modelId, amount, uint96(stake));
        credit.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Retire an active model (its prover only); the stake unlocks after {unbondingPeriod}.
    function retire(uint256 modelId) external {
        Model storage model = _activeModelOf(modelId);
        uint64 endsAt = uint64(block.timestamp) + unbondingPeriod;
        model.active = false;
        model.unbondingEndsAt = endsAt;
        emit ModelRetired(modelId, endsAt);
    }

    /// @notice Return a retired model's stake to its prover once unbonding has ended.
    function withdrawStake(uint256 modelId) external {
        Model storage model = _modelOf(modelId);
        if (model.prover != msg.sender) {
            revert GhostRegistryNotProver(modelId, msg.sender, model.prover);
        }
        if (model.active) revert GhostRegistryStillActive(modelId);
        if (block.timestamp < model.unbondingEndsAt) {
            revert GhostRegistryUnbonding(modelId, model.unbondingEndsAt, block.timestamp);
        }
        uint96 amount = model.stake;
        if (amount == 0) revert GhostRegistryNothingStaked(modelId);
        model.stake = 0;
        emit StakeWithdrawn(modelId, msg.sender, amount);
        credit.safeTransfer(msg.sender, amount);
    }

    /// @notice Everything registered about `modelId`; reverts if there is no such model.
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _modelOf(modelId);
    }

    /**
     * @notice Whether `root` is the (layer, matrix) root committed under the model's ghostRoot.
     * @param modelId the model
     * @param layer layer index, below nLayers
     * @param matrix 0 for K, 1 for V
     * @param root the claimed layer root
     * @param headerHash keccak256 of the ghost file's canonical header
     * @param nLayers the model's layer count (1..64)
     * @param proof Merkle path of the layer-root leaf, leaf level first
     * @return true iff the opening reproduces the anchored ghostRoot
     */
    function verifyLayerRoot(
        uint256 modelId,
        uint256 layer,
        uint256 matrix,
        bytes32 root,
        bytes32 headerHash,
        uint256 nLayers,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 anchored = _modelOf(modelId).ghostRoot;
        return GhostHash.processLayerRoot(layer, matrix, root, headerHash, nLayers, proof) == anchored;
    }

    /// @notice The ghostRoot an opening reproduces (pure; for tooling and test vectors).
    function processLayerRoot(
        uint256 layer,
        uint256 matrix,
        bytes32 root,
        bytes32 headerHash,
        uint256 nLayers,
        bytes32[] calldata proof
    ) external pure returns (bytes32) {
        return GhostHash.processLayerRoot(layer, matrix, root, headerHash, nLayers, proof);
    }

    /**
     * @notice The EIP-712 digest a prover signs for an answer of `modelId` (its receipt),
     * under this registry's domain ("ghostproof", "2", block.chainid, address(this)).
     * @param modelId the registry id of the model answered (need not be registered)
     * @param ghostRoot the model's ghostRoot
     * @param requestHash keccak256(0x04 ‖ modelId ‖ nonce ‖ uint32 n ‖ float32 input)
     * @param selectionHash keccak256 of every layer's {layerSelectionHash}, in layer order
     * @param outputHash keccak256(0x06 ‖ int32 output…)
     * @return keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(Receipt))
     */
    function receiptDigest(
        uint256 modelId,
        bytes32 ghostRoot,
        bytes32 requestHash,
        bytes32 selectionHash,
        bytes32 outputHash
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            GhostReceipt.structHash(modelId, ghostRoot, requestHash, selectionHash, outputHash)
        );
    }

    /**
     * @notice The selection hash of one layer of a receipt, as protocol/receipt.py computes it.
     * @param layer the layer index ℓ
     * @param q the claimed int8 query q_ℓ (one byte per element)
     * @param tau the threshold τ_ℓ (lowest exact score in the selection)
     * @param selected the selected column indices S_ℓ, ascending
     * @return keccak256(0x05 ‖ uint16 ℓ ‖ int8 q ‖ int32 τ ‖ uint32 S[0] ‖ … ‖ uint32 S[k−1])
     * @dev Loops once per selected index: bounded by the calldata length.
     */
    function layerSelectionHash(uint16 layer, bytes calldata q, int32 tau, uint32[] calldata selected)
        public
        pure
        returns (bytes32)
    {
        return GhostReceipt.layerSelectionHash(layer, q, tau, selected);
    }

    /// @notice The EIP-712 domain separator receipts are signed under on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _modelOf(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.prover == address(0)) revert GhostRegistryUnknownModel(modelId);
    }

    function _activeModelOf(uint256 modelId) private view returns (Model storage model) {
        model = _modelOf(modelId);
        if (model.prover != msg.sender) {
            revert GhostRegistryNotProver(modelId, msg.sender, model.prover);
        }
        if (!model.active) revert GhostRegistryRetired(modelId);
    }
}
