// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BN254} from "./BN254.sol";

/// @notice The one view of GhostRegistry this contract reads.
/// @dev GhostRegistry.getModel returns its Model struct, all of whose fields are static, so
/// the answer is one word per field with ghostRoot first; this interface decodes only that
/// first word (the ABI decoder ignores the rest), so fields added to Model later do not
/// change what is read. It reverts (GhostRegistryUnknownModel) for an unknown id.
interface IGhostRegistryRoots {
    /// @notice The registered ghostRoot of `modelId`.
    function getModel(uint256 modelId) external view returns (bytes32 ghostRoot);
}

/**
 * @title GhostAttestations
 * @notice Availability attestations (DESIGN §6): auditors who fetched every chunk of a
 * model and rebuilt its ghostRoot sign — BLS over BN254 — that it is available and correct.
 * One aggregate signature per model and epoch is checked here with one pairing check, and
 * the contract records how many registered auditors signed it.
 *
 * The scheme is EigenLayer's (BLSApkRegistry, BLSSignatureChecker): public keys and
 * signatures in G1; the contract keeps the aggregate public key `apk` of every registered
 * auditor; a submitter passes the non-signers' G1 keys (each must be a registered auditor,
 * strictly ascending by key hash, so none is subtracted twice), the signers' aggregate key
 * in G2 and the aggregate signature σ, and the contract checks, with
 * γ = keccak(m, apkSigners, apkG2, σ) mod r,
 *   e(σ + γ·apkSigners, −G2) · e(H(m) + γ·G1, apkG2) == 1,
 * which holds (but for probability ~1/r) iff σ is a signature of m under apkSigners and
 * apkG2 carries the same secret as apkSigners. A key is registered only with a proof of
 * possession (the same check, for the key alone, over a message naming the auditor and the
 * key), so no one can register a key made from others' keys (a rogue-key attack) and the
 * aggregate over apkSigners = apk − Σ non-signers means every one of those auditors signed.
 *
 * Messages (32 bytes, hashed to G1 by {BN254.hashToG1}):
 *   attestation: keccak256(abi.encode(ATTESTATION_TAG, chainid, this, registry, modelId,
 *                ghostRoot, epoch)), ghostRoot being the registry's for modelId;
 *   possession:  keccak256(abi.encode(POSSESSION_TAG, chainid, this, auditor, pk.x, pk.y)).
 *
 * Epochs: epoch = block.timestamp / {epochLength}. A submission is for the current epoch
 * only; the record of a model is replaced by a submission for a later epoch or a new
 * ghostRoot, or — same epoch and root — by one with more signers. So a new epoch or a new
 * ghostRoot needs new signatures, and the count shown is the latest epoch's.
 *
 * Counting: signers = registered auditors now − non-signers. Auditors join freely (with
 * their proof of possession), so the count says how many registered keys signed, not how
 * many independent parties: one party may register many keys.
 * @dev Loops: {submitAttestation} walks its calldata array of non-signers (bounded by the
 * calldata the caller pays for); {auditors} walks at most `count` entries; hashToG1 at most
 * 256 times. No other loop.
 */
contract GhostAttestations {
    using BN254 for BN254.G1Point;

    /// @notice Domain tag of attestation messages.
    bytes32 public constant ATTESTATION_TAG = keccak256("ghostproof.attestation.v1");
    /// @notice Domain tag of proof-of-possession messages.
    bytes32 public constant POSSESSION_TAG = keccak256("ghostproof.bls-possession.v1");
    /// @dev keccak256 of the point at infinity (0, 0): not a key.
    bytes32 private constant ZERO_KEY_HASH = keccak256(abi.encodePacked(uint256(0), uint256(0)));

    /// @notice One auditor's key (3 storage slots), by the key's hash.
    struct Auditor {
        BN254.G1Point pubkey;
        address owner;
        uint32 index;
        bool active;
    }

    /// @notice The latest attestation of one model (2 storage slots).
    struct Attestation {
        bytes32 ghostRoot;
        uint64 epoch;
        uint32 signers;
        uint32 auditors;
    }

    /// @notice The registry whose models are attested.
    IGhostRegistryRoots public immutable registry;
    /// @notice Seconds per epoch.
    uint64 public immutable epochLength;

    BN254.G1Point private _apk;
    bytes32[] private _activeKeys;
    mapping(bytes32 pubkeyHash => Auditor) private _auditors;
    mapping(address auditor => bytes32) private _keyOf;
    mapping(uint256 modelId => Attestation) private _attestations;

    /// @notice The epoch length is zero.
    error GhostAttestationsZeroEpochLength();
    /// @notice The key is the point at infinity.
    error GhostAttestationsZeroKey();
    /// @notice `auditor` already has the active key `pubkeyHash`.
    error GhostAttestationsAlreadyRegistered(address auditor, bytes32 pubkeyHash);
    /// @notice The key `pubkeyHash` was registered before, by `owner` (keys are never reused).
    error GhostAttestationsKeyTaken(bytes32 pubkeyHash, address owner);
    /// @notice The proof of possession of `pubkeyHash` by `auditor` does not verify.
    error GhostAttestationsBadPossession(address auditor, bytes32 pubkeyHash);
    /// @notice `account` has no active auditor key.
    error GhostAttestationsNotAuditor(address account);
    /// @notice A point is not on the curve (or, in G2, not in the subgroup).
    error GhostAttestationsBadPoint();
    /// @notice No point of G1 found for `message` (probability ~2^-256).
    error GhostAttestationsHashToCurveFailed(bytes32 message);
    /// @notice The submission is for `epoch`; only the current epoch `current` is accepted.
    error GhostAttestationsWrongEpoch(uint64 epoch, uint64 current);
    /// @notice Non-signer `index` (key hash `pubkeyHash`) is not above the previous one.
    error GhostAttestationsNonSignersNotSorted(uint256 index, bytes32 pubkeyHash);
    /// @notice Non-signer `index` (key hash `pubkeyHash`) is not a registered auditor.
    error GhostAttestationsUnknownNonSigner(uint256 index, bytes32 pubkeyHash);
    /// @notice Every one of the `auditors` registered auditors is a non-signer.
    error GhostAttestationsNoSigners(uint256 auditors);
    /// @notice `modelId` already has `recorded` signers in `epoch`; `signers` is not more.
    error GhostAttestationsNotMore(uint256 modelId, uint64 epoch, uint256 signers, uint256 recorded);
    /// @notice The aggregate signature does not verify for this model, root and epoch.
    error GhostAttestationsBadSignature(uint256 modelId, bytes32 ghostRoot, uint64 epoch);

    /// @notice `auditor` registered the key `pubkeyHash`; `auditors` are now registered.
    event AuditorRegistered(
        address indexed auditor, bytes32 indexed pubkeyHash, BN254.G1Point pubkeyG1,
        BN254.G2Point pubkeyG2, uint32 auditors
    );
    /// @notice `auditor` withdrew its key `pubkeyHash`; `auditors` remain registered.
    event AuditorDeregistered(address indexed auditor, bytes32 indexed pubkeyHash, uint32 auditors);
    /// @notice `signers` of the `auditors` registered auditors attested `modelId` at `ghostRoot`
    /// in `epoch`; `submitter` sent the aggregate.
    event AttestationRecorded(
        uint256 indexed modelId, uint64 indexed epoch, bytes32 ghostRoot, uint32 signers,
        uint32 auditors, address submitter
    );

    /// @param registry_ the GhostRegistry whose models are attested
    /// @param epochLength_ seconds per epoch (non-zero)
    constructor(IGhostRegistryRoots registry_, uint64 epochLength_) {
        if (epochLength_ == 0) revert GhostAttestationsZeroEpochLength();
        registry = registry_;
        epochLength = epochLength_;
    }

    // ---------------------------------------------------------------- auditors

    /**
     * @notice Register the caller's BLS key, proving it holds its secret.
     * @param pubkeyG1 the key sk·G1
     * @param pubkeyG2 the same key in G2, sk·G2
     * @param possession sk·H(m) where m = {possessionMessage}(caller, pubkeyG1)
     * @dev One key per address at a time; a key, once registered, is never accepted again
     * (not even after {deregister}), so its hash always names one auditor.
     */
    function register(
        BN254.G1Point calldata pubkeyG1,
        BN254.G2Point calldata pubkeyG2,
        BN254.G1Point calldata possession
    ) external {
        BN254.G1Point memory key = pubkeyG1;
        bytes32 pubkeyHash = key.hashG1();
        if (pubkeyHash == ZERO_KEY_HASH) revert GhostAttestationsZeroKey();
        bytes32 current = _keyOf[msg.sender];
        if (current != bytes32(0) && _auditors[current].active) {
            revert GhostAttestationsAlreadyRegistered(msg.sender, current);
        }
        address owner = _auditors[pubkeyHash].owner;
        if (owner != address(0)) revert GhostAttestationsKeyTaken(pubkeyHash, owner);
        bytes32 message = possessionMessage(msg.sender, key);
        if (!_verify(message, key, pubkeyG2, possession)) {
            revert GhostAttestationsBadPossession(msg.sender, pubkeyHash);
        }
        BN254.G1Point memory apk = _add(_apk, key);
        uint32 index = uint32(_activeKeys.length);
        _auditors[pubkeyHash] = Auditor(key, msg.sender, index, true);
        _keyOf[msg.sender] = pubkeyHash;
        _activeKeys.push(pubkeyHash);
        _apk = apk;
        emit AuditorRegistered(msg.sender, pubkeyHash, key, pubkeyG2, index + 1);
    }

    /// @notice Withdraw the caller's key: it leaves the aggregate key and the count of
    /// auditors; later attestations no longer include it.
    function deregister() external {
        bytes32 pubkeyHash = _keyOf[msg.sender];
        Auditor storage auditor = _auditors[pubkeyHash];
        if (pubkeyHash == bytes32(0) || !auditor.active) revert GhostAttestationsNotAuditor(msg.sender);
        BN254.G1Point memory apk = _add(_apk, auditor.pubkey.negate());
        uint32 index = auditor.index;
        bytes32 last = _activeKeys[_activeKeys.length - 1];
        _activeKeys[index] = last;
        _auditors[last].index = index;
        _activeKeys.pop();
        auditor.active = false;
        _apk = apk;
        emit AuditorDeregistered(msg.sender, pubkeyHash, uint32(_activeKeys.length));
    }

    // ---------------------------------------------------------------- attestations

    /**
     * @notice Record that the registered auditors, but for `nonSigners`, attest model
     * `modelId` (at its registered ghostRoot) in `epoch`.
     * @param modelId the model, registered in {registry}
     * @param epoch the current epoch ({currentEpoch}); the signatures are for it
     * @param sigma the aggregate (sum) of the signers' signatures of {attestationMessage}
     * @param apkG2 the aggregate (sum) of the signers' keys in G2
     * @param nonSigners the G1 keys of the registered auditors that did not sign, strictly
     * ascending by keccak256(x ‖ y); loops once per entry (bounded by calldata)
     * @return signers how many registered auditors signed
     */
    function submitAttestation(
        uint256 modelId,
        uint64 epoch,
        BN254.G1Point calldata sigma,
        BN254.G2Point calldata apkG2,
        BN254.G1Point[] calldata nonSigners
    ) external returns (uint32 signers) {
        uint64 current = currentEpoch();
        if (epoch != current) revert GhostAttestationsWrongEpoch(epoch, current);
        bytes32 ghostRoot = registry.getModel(modelId);
        uint256 total = _activeKeys.length;
        if (nonSigners.length >= total) revert GhostAttestationsNoSigners(total);
        signers = uint32(total - nonSigners.length);
        Attestation memory recorded = _attestations[modelId];
        if (recorded.epoch == epoch && recorded.ghostRoot == ghostRoot && signers <= recorded.signers) {
            revert GhostAttestationsNotMore(modelId, epoch, signers, recorded.signers);
        }
        BN254.G1Point memory apkSigners = _add(_apk, _sumNonSigners(nonSigners).negate());
        bytes32 message = attestationMessage(modelId, ghostRoot, epoch);
        if (!_verify(message, apkSigners, apkG2, sigma)) {
            revert GhostAttestationsBadSignature(modelId, ghostRoot, epoch);
        }
        _attestations[modelId] = Attestation(ghostRoot, epoch, signers, uint32(total));
        emit AttestationRecorded(modelId, epoch, ghostRoot, signers, uint32(total), msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice The current epoch: block.timestamp / {epochLength}.
    function currentEpoch() public view returns (uint64) {
        return uint64(block.timestamp / epochLength);
    }

    /// @notice The latest attestation recorded for `modelId` (all zero if none).
    function attestation(uint256 modelId) external view returns (Attestation memory) {
        return _attestations[modelId];
    }

    /// @notice The 32-byte message auditors sign to attest `modelId` at `ghostRoot` in `epoch`.
    function attestationMessage(uint256 modelId, bytes32 ghostRoot, uint64 epoch) public view returns (bytes32) {
        return keccak256(
            abi.encode(ATTESTATION_TAG, block.chainid, address(this), address(registry), modelId, ghostRoot, epoch)
        );
    }

    /// @notice The 32-byte message `auditor` signs with the secret of `pubkeyG1` to register it.
    function possessionMessage(address auditor, BN254.G1Point memory pubkeyG1) public view returns (bytes32) {
        return keccak256(abi.encode(POSSESSION_TAG, block.chainid, address(this), auditor, pubkeyG1.x, pubkeyG1.y));
    }

    /// @notice H(message): {BN254.hashToG1} (reverts in the ~2^-256 case of no point).
    function hashToG1(bytes32 message) public view returns (BN254.G1Point memory point) {
        bool ok;
        (point, ok) = BN254.hashToG1(message);
        if (!ok) revert GhostAttestationsHashToCurveFailed(message);
    }

    /**
     * @notice Whether `sigma` is a signature of `message` under the key (`pubkeyG1`,
     * `pubkeyG2`) and both halves of the key carry the same secret: the check
     * {submitAttestation} and {register} make, for clients and test vectors.
     * @dev Reverts GhostAttestationsBadPoint for a G1 point off the curve; a bad G2 point
     * returns false.
     */
    function verifySignature(
        bytes32 message,
        BN254.G1Point calldata pubkeyG1,
        BN254.G2Point calldata pubkeyG2,
        BN254.G1Point calldata sigma
    ) external view returns (bool) {
        return _verify(message, pubkeyG1, pubkeyG2, sigma);
    }

    /// @notice How many auditors are registered now.
    function auditorCount() external view returns (uint256) {
        return _activeKeys.length;
    }

    /// @notice The aggregate (sum) of every registered auditor's G1 key.
    function aggregateKey() external view returns (BN254.G1Point memory) {
        return _apk;
    }

    /// @notice `auditor`'s key hash and whether it is registered now (zero if it never was).
    function keyOf(address auditor) external view returns (bytes32 pubkeyHash, bool active) {
        pubkeyHash = _keyOf[auditor];
        active = pubkeyHash != bytes32(0) && _auditors[pubkeyHash].active;
    }

    /// @notice Registered auditors `start` … `start + count − 1` (fewer at the end): their
    /// addresses and G1 keys, in no particular order; loops at most `count` times.
    function auditors(uint256 start, uint256 count)
        external
        view
        returns (address[] memory owners, BN254.G1Point[] memory keys)
    {
        uint256 total = _activeKeys.length;
        uint256 end = start >= total ? start : (count > total - start ? total : start + count);
        owners = new address[](end - start);
        keys = new BN254.G1Point[](end - start);
        for (uint256 i = start; i < end; ++i) {
            Auditor storage a = _auditors[_activeKeys[i]];
            owners[i - start] = a.owner;
            keys[i - start] = a.pubkey;
        }
    }

    // ---------------------------------------------------------------- internals

    /// @dev Σ nonSigners, each a registered auditor, strictly ascending by key hash.
    function _sumNonSigners(BN254.G1Point[] calldata nonSigners) private view returns (BN254.G1Point memory sum) {
        bytes32 previous;
        for (uint256 i = 0; i < nonSigners.length; ++i) {
            BN254.G1Point memory key = nonSigners[i];
            bytes32 pubkeyHash = key.hashG1();
            if (i != 0 && uint256(pubkeyHash) <= uint256(previous)) {
                revert GhostAttestationsNonSignersNotSorted(i, pubkeyHash);
            }
            if (!_auditors[pubkeyHash].active) revert GhostAttestationsUnknownNonSigner(i, pubkeyHash);
            sum = _add(sum, key);
            previous = pubkeyHash;
        }
    }

    /// @dev e(σ + γ·pk, −G2)·e(H(m) + γ·G1, pkG2) == 1, γ = keccak(m, pk, pkG2, σ) mod r.
    function _verify(
        bytes32 message,
        BN254.G1Point memory pubkeyG1,
        BN254.G2Point memory pubkeyG2,
        BN254.G1Point memory sigma
    ) private view returns (bool) {
        BN254.G1Point memory h = hashToG1(message);
        uint256 gamma = uint256(
            keccak256(
                abi.encodePacked(
                    message, pubkeyG1.x, pubkeyG1.y, pubkeyG2.x[0], pubkeyG2.x[1], pubkeyG2.y[0],
                    pubkeyG2.y[1], sigma.x, sigma.y
                )
            )
        ) % BN254.R;
        BN254.G1Point memory left = _add(sigma, _mul(pubkeyG1, gamma));
        BN254.G1Point memory right = _add(h, _mul(BN254.G1Point(1, 2), gamma));
        (, bool valid) = BN254.pairing2(left, BN254.negGeneratorG2(), right, pubkeyG2);
        return valid;
    }

    /// @dev a + b, reverting GhostAttestationsBadPoint for a point off the curve.
    function _add(BN254.G1Point memory a, BN254.G1Point memory b) private view returns (BN254.G1Point memory r) {
        bool ok;
        (r, ok) = BN254.add(a, b);
        if (!ok) revert GhostAttestationsBadPoint();
    }

    /// @dev s·p, reverting GhostAttestationsBadPoint for a point off the curve.
    function _mul(BN254.G1Point memory p, uint256 s) private view returns (BN254.G1Point memory r) {
        bool ok;
        (r, ok) = BN254.mul(p, s);
        if (!ok) revert GhostAttestationsBadPoint();
    }
}
