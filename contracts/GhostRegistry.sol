// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {GhostChallenge} from "./GhostChallenge.sol";
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
 *
 * Challenges (DESIGN §6): anyone holding the weights can show, in one transaction, that a
 * signed receipt skipped a column scoring more than the margin above its threshold; the
 * whole stake is slashed, {CHALLENGER_SHARE_BPS} of it to the challenger and the rest
 * burned (so a prover challenging itself loses half), and the model is deactivated. The
 * window is the stake's life: while the model is active and, once retired, until
 * unbonding ends. A false challenge reverts; a receipt slashes once.
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
        bool slashed;
        uint32 version;
    }

    /// @notice The receipt a challenge disputes: what the prover signed, less the selection
    /// hash, which the contract recomputes from {SelectionClaim}.
    /// `version` is the model version whose ghostRoot the receipt names (not signed: the root
    /// is, and the contract checks it is that version's).
    struct SignedReceipt {
        uint256 modelId;
        uint32 version;
        bytes32 ghostRoot;
        bytes32 requestHash;
        bytes32 outputHash;
        bytes signature;
    }

    /// @notice The disputed layer of a receipt and the other layers' selection hashes.
    /// @dev `selected` is S_ℓ packed as the selection hash packs it: 4 big-endian bytes per
    /// index. `layerHashes` holds every layer's selection hash in layer order; its entry
    /// `layer` is ignored and replaced by the hash of (layer, q, tau, selected).
    struct SelectionClaim {
        uint16 layer;
        bytes q;
        int32 tau;
        bytes selected;
        bytes32[] layerHashes;
    }

    /// @notice The disputed layer's K root opened against the ghostRoot, and the skipped
    /// column with its Merkle path to that root.
    struct ColumnEvidence {
        bytes32 keyRoot;
        bytes32 headerHash;
        uint256 nLayers;
        bytes32[] rootProof;
        uint32 column;
        bytes values;
        bytes32[] columnProof;
    }

    /// @notice Share of a slashed stake paid to the challenger, in basis points; the rest
    /// is burned.
    uint256 public constant CHALLENGER_SHARE_BPS = 5000;

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
    /// @dev The ghostRoots of a model's superseded versions (the current one is in its Model).
    mapping(uint256 modelId => mapping(uint256 version => bytes32 ghostRoot)) private _pastRoots;

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

    /// @notice The model has no such version yet.
    error GhostRegistryUnknownVersion(uint256 modelId, uint256 version, uint256 current);
    /// @notice A rotation to the ghostRoot the model already has.
    error GhostRegistryRootUnchanged(uint256 modelId, bytes32 ghostRoot);
    /// @notice The model's stake is zero (withdrawn or slashed): there is nothing to slash.
    error GhostRegistryNothingToSlash(uint256 modelId);
    /// @notice The model retired and its unbonding period, the challenge window, is over.
    error GhostRegistryChallengeWindowClosed(uint256 modelId, uint256 unbondingEndsAt, uint256 timestamp);
    /// @notice The receipt names another ghostRoot than the model's at the version it gives.
    error GhostRegistryWrongGhostRoot(uint256 modelId, bytes32 given, bytes32 anchored);
    /// @notice The disputed layer is not one of the receipt's layers.
    error GhostRegistryLayerOutOfRange(uint256 layer, uint256 nLayerHashes);
    /// @notice The model's stake was already slashed (by the receipt its ProverSlashed event names).
    error GhostRegistryAlreadySlashed(uint256 modelId);
    /// @notice The packed selection's length is not a multiple of 4 bytes.
    error GhostRegistryBadSelectionLength(uint256 length);
    /// @notice The signature is malformed or not low-s (OpenZeppelin ECDSA).
    error GhostRegistryBadSignature(bytes32 receiptDigest);
    /// @notice The receipt was signed by `signer`, not by the model's prover.
    error GhostRegistryNotSignedByProver(bytes32 receiptDigest, address signer, address prover);
    /// @notice The K root does not open against the model's ghostRoot.
    error GhostRegistryBadKeyRoot(uint256 modelId, uint256 layer, bytes32 keyRoot);
    /// @notice The column is one of the selected ones.
    error GhostRegistryColumnSelected(uint256 layer, uint256 column);
    /// @notice The column does not have the query's length.
    error GhostRegistryColumnLength(uint256 length, uint256 expected);
    /// @notice The column and its path do not reproduce the K root.
    error GhostRegistryBadColumnProof(uint256 layer, uint256 column, bytes32 keyRoot);
    /// @notice The column does not beat the threshold by more than the margin: the
    /// selection stands.
    error GhostRegistrySelectionStands(uint256 column, int256 score, int256 tau, uint256 margin);

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
    /// @notice The prover rotated the model to a new version: its new ghostRoot and ghost file,
    /// and the CID digest of the update proof from the previous version (DESIGN §10), which
    /// clients check off-chain before following the new version.
    event RootRotated(
        uint256 indexed modelId,
        uint32 version,
        bytes32 indexed oldRoot,
        bytes32 indexed newRoot,
        bytes32 ghostCidDigest,
        bytes32 updateProofCidDigest
    );
    /// @notice A model's price per query changed.
    event PriceUpdated(uint256 indexed modelId, uint96 oldPrice, uint96 newPrice);
    /// @notice A model's stake was topped up.
    event StakeAdded(uint256 indexed modelId, uint96 amount, uint96 stake);
    /// @notice A model was retired; its stake unlocks at `unbondingEndsAt`.
    event ModelRetired(uint256 indexed modelId, uint64 unbondingEndsAt);
    /// @notice A challenge showed that the receipt `receiptDigest` skipped `column` of
    /// `layer`, scoring `score` > `tau` + margin: the stake was slashed and the model
    /// deactivated; `reward` credits went to `challenger`, `burned` were burned.
    event ProverSlashed(
        uint256 indexed modelId,
        bytes32 indexed receiptDigest,
        address indexed challenger,
        uint256 layer,
        uint256 column,
        int256 score,
        int256 tau,
        uint96 reward,
        uint96 burned
    );
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
            active: true,
            slashed: false,
            version: 0
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

    /**
     * @notice Move an active model to a new version (its prover only): the new ghostRoot and
     * ghost file, and the update proof that takes the current version to it (DESIGN §10).
     * The old root stays registered as its version, so receipts signed under it stay
     * verifiable and challengeable.
     * @param modelId the model
     * @param newRoot the new version's ghostRoot
     * @param ghostCidDigest sha2-256 digest of the new ghost file (its CIDv1/raw CID)
     * @param updateProofCidDigest sha2-256 digest of the update proof (its CIDv1/raw CID)
     * @return version the new version number
     * @dev The Merkle half of the transition is not checked here: clients check the proof
     * (`ghostproof model verify-update`) before following the new version.
     */
    function rotateRoot(uint256 modelId, bytes32 newRoot, bytes32 ghostCidDigest, bytes32 updateProofCidDigest)
        external
        returns (uint32 version)
    {
        if (newRoot == bytes32(0)) revert GhostRegistryZeroRoot();
        if (ghostCidDigest == bytes32(0) || updateProofCidDigest == bytes32(0)) revert GhostRegistryZeroCid();
        Model storage model = _activeModelOf(modelId);
        bytes32 oldRoot = model.ghostRoot;
        if (newRoot == oldRoot) revert GhostRegistryRootUnchanged(modelId, newRoot);
        _pastRoots[modelId][model.version] = oldRoot;
        version = model.version + 1;
        model.ghostRoot = newRoot;
        model.ghostCidDigest = ghostCidDigest;
        model.version = version;
        emit RootRotated(modelId, version, oldRoot, newRoot, ghostCidDigest, updateProofCidDigest);
    }

    /// @notice The ghostRoot of version `version` of `modelId` (0 = as registered); reverts for
    /// a version it does not have yet.
    function versionRoot(uint256 modelId, uint256 version) public view returns (bytes32) {
        Model storage model = _modelOf(modelId);
        if (version == model.version) return model.ghostRoot;
        if (version > model.version) revert GhostRegistryUnknownVersion(modelId, version, model.version);
        return _pastRoots[modelId][version];
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

    /**
     * @notice Slash the stake of a model whose prover signed a receipt that skipped a
     * better column (DESIGN §6). The contract checks everything itself: the receipt's
     * ghostRoot is the model's at the receipt's version (any version, current or past) and
     * its signature the prover's (low-s), the K root opens against that ghostRoot, `column` is not selected and is in the K root, and its exact
     * score q·K_column exceeds tau + the model's selection margin. Then the whole stake is
     * slashed: {CHALLENGER_SHARE_BPS} to the caller, the rest burned; the model is
     * deactivated and marked slashed, so a receipt (indeed a model) slashes once.
     * @param receipt the signed receipt (selection hash recomputed from `claim`)
     * @param claim the disputed layer's q, tau and selection, and every layer's selection hash
     * @param evidence the layer's K root with its opening, and the skipped column with its path
     * @return reward credits paid to the caller
     * @dev Reverts with a GhostRegistry* error naming the failed check. Loops are bounded by
     * the calldata (the selection, the query, the proofs) and by GhostChallenge.MAX_DEPTH.
     */
    function challenge(
        SignedReceipt calldata receipt,
        SelectionClaim calldata claim,
        ColumnEvidence calldata evidence
    ) external returns (uint96 reward) {
        Model storage model = _modelOf(receipt.modelId);
        bytes32 digest = _checkReceipt(receipt, claim, model);
        int256 score = _checkColumn(receipt.modelId, receipt.ghostRoot, claim, evidence);
        uint256 margin = model.selectionMargin;
        if (score <= int256(claim.tau) + int256(margin)) {
            revert GhostRegistrySelectionStands(evidence.column, score, claim.tau, margin);
        }
        reward = _slash(receipt.modelId, model, digest, claim, evidence.column, score);
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

    /// @notice The exact score q·column a challenge computes (pure; for tooling and test vectors).
    /// @dev Reverts with GhostRegistryColumnLength when the lengths differ.
    function challengeScore(bytes calldata q, bytes calldata column) external pure returns (int256) {
        if (column.length != q.length) revert GhostRegistryColumnLength(column.length, q.length);
        return GhostChallenge.score(q, column);
    }

    /// @notice The K root that K column `column` of `layer` and its Merkle path reproduce, or
    /// zero for a path longer than 32 or too short for the index (pure; for test vectors).
    function keyColumnRoot(uint16 layer, uint32 column, bytes calldata values, bytes32[] calldata path)
        external
        pure
        returns (bytes32)
    {
        return GhostChallenge.processKeyPath(GhostChallenge.keyLeaf(layer, column, values), column, path);
    }

    /// @notice The EIP-712 domain separator receipts are signed under on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _modelOf(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.prover == address(0)) revert GhostRegistryUnknownModel(modelId);
    }

    /// @dev The receipt's digest, once it has not slashed yet, the model can still be
    /// slashed under the receipt's ghostRoot, and the signature is the prover's.
    function _checkReceipt(SignedReceipt calldata receipt, SelectionClaim calldata claim, Model storage model)
        private
        view
        returns (bytes32 digest)
    {
        if (model.slashed) revert GhostRegistryAlreadySlashed(receipt.modelId);
        digest = _receiptDigestOf(receipt, claim);
        _checkChallengeable(receipt, model);
        (address signer, ECDSA.RecoverError failure,) = ECDSA.tryRecover(digest, receipt.signature);
        if (failure != ECDSA.RecoverError.NoError) revert GhostRegistryBadSignature(digest);
        if (signer != model.prover) revert GhostRegistryNotSignedByProver(digest, signer, model.prover);
    }

    /// @dev Slash the whole stake (effects, event, then the transfer and the burn).
    function _slash(
        uint256 modelId,
        Model storage model,
        bytes32 digest,
        SelectionClaim calldata claim,
        uint32 column,
        int256 score
    ) private returns (uint96 reward) {
        uint96 amount = model.stake;
        reward = uint96((uint256(amount) * CHALLENGER_SHARE_BPS) / 10_000);
        uint96 burned = amount - reward;
        model.stake = 0;
        model.active = false;
        model.slashed = true;
        emit ProverSlashed(modelId, digest, msg.sender, claim.layer, column, score, claim.tau, reward, burned);
        if (reward != 0) credit.safeTransfer(msg.sender, reward);
        if (burned != 0) ERC20Burnable(address(credit)).burn(burned);
    }

    /// @dev The model still has a stake inside its challenge window, under the receipt's ghostRoot.
    function _checkChallengeable(SignedReceipt calldata receipt, Model storage model) private view {
        if (model.stake == 0) revert GhostRegistryNothingToSlash(receipt.modelId);
        if (!model.active && block.timestamp >= model.unbondingEndsAt) {
            revert GhostRegistryChallengeWindowClosed(receipt.modelId, model.unbondingEndsAt, block.timestamp);
        }
        bytes32 root = versionRoot(receipt.modelId, receipt.version);
        if (receipt.ghostRoot != root) revert GhostRegistryWrongGhostRoot(receipt.modelId, receipt.ghostRoot, root);
    }

    /// @dev The receipt's EIP-712 digest, its selection hash rebuilt with the claimed layer.
    function _receiptDigestOf(SignedReceipt calldata receipt, SelectionClaim calldata claim)
        private
        view
        returns (bytes32)
    {
        uint256 nLayers = claim.layerHashes.length;
        if (claim.layer >= nLayers) revert GhostRegistryLayerOutOfRange(claim.layer, nLayers);
        if (claim.selected.length % 4 != 0) revert GhostRegistryBadSelectionLength(claim.selected.length);
        bytes32[] memory hashes = claim.layerHashes;
        hashes[claim.layer] =
            GhostReceipt.packedLayerSelectionHash(claim.layer, claim.q, claim.tau, claim.selected);
        return receiptDigest(
            receipt.modelId,
            receipt.ghostRoot,
            receipt.requestHash,
            keccak256(abi.encodePacked(hashes)),
            receipt.outputHash
        );
    }

    /// @dev The exact score of the evidence's column, once it is shown to be a K column of the
    /// claimed layer, committed under `ghostRoot`, and not selected.
    function _checkColumn(
        uint256 modelId,
        bytes32 ghostRoot,
        SelectionClaim calldata claim,
        ColumnEvidence calldata evidence
    ) private pure returns (int256) {
        uint16 layer = claim.layer;
        bytes32 opened = GhostHash.processLayerRoot(
            layer, 0, evidence.keyRoot, evidence.headerHash, evidence.nLayers, evidence.rootProof
        );
        if (opened != ghostRoot) revert GhostRegistryBadKeyRoot(modelId, layer, evidence.keyRoot);
        uint32 column = evidence.column;
        if (GhostChallenge.packedContains(claim.selected, column)) {
            revert GhostRegistryColumnSelected(layer, column);
        }
        if (evidence.values.length != claim.q.length) {
            revert GhostRegistryColumnLength(evidence.values.length, claim.q.length);
        }
        bytes32 leaf = GhostChallenge.keyLeaf(layer, column, evidence.values);
        if (GhostChallenge.processKeyPath(leaf, column, evidence.columnProof) != evidence.keyRoot) {
            revert GhostRegistryBadColumnProof(layer, column, evidence.keyRoot);
        }
        return GhostChallenge.score(claim.q, evidence.values);
    }

    function _activeModelOf(uint256 modelId) private view returns (Model storage model) {
        model = _modelOf(modelId);
        if (model.prover != msg.sender) {
            revert GhostRegistryNotProver(modelId, msg.sender, model.prover);
        }
        if (!model.active) revert GhostRegistryRetired(modelId);
    }
}
