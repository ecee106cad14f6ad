// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title CreditEscrow
 * @notice One-way payment channels in credits, one per (client, prover). The client
 * deposits; every request carries an EIP-712 voucher for the cumulative amount owed; the
 * prover redeems the latest voucher whenever it likes; the client takes back the rest only
 * {withdrawalDelay} seconds after asking, so the prover can always redeem first.
 * @dev Voucher(address client,address prover,uint64 epoch,uint256 cumulativeAmount) under
 * the domain ("ghostproof CreditEscrow", "1", chainId, this contract) — protocol/voucher.py
 * signs the same digest. Within an epoch cumulative amounts only grow: a voucher at or below
 * what was already redeemed is a replay and reverts. A withdrawal closes the channel: it
 * pays the client the unredeemed rest, zeroes `deposited` and `redeemed` and starts the
 * next epoch, so every voucher of the closed epoch is dead (it cannot draw on a later
 * deposit). A deposit cancels a pending withdrawal: the client must ask again and wait the
 * full delay, so no withdrawal can fall due sooner than {withdrawalDelay} after the last
 * deposit, whatever the order of requests and deposits.
 *
 * WARNING: a prover must refuse new vouchers on a channel whose withdrawal falls due before
 * it could get a redeem mined (see {channel}), and must redeem before `withdrawableAt`:
 * once the client withdraws, the epoch's unredeemed vouchers are worthless.
 */
contract CreditEscrow is EIP712 {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type hash of a voucher.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address client,address prover,uint64 epoch,uint256 cumulativeAmount)");

    /// @notice The state of one channel (2 storage slots). `deposited` and `redeemed` count
    /// from zero in every epoch; `withdrawableAt` is zero unless a withdrawal is pending.
    struct Channel {
        uint128 deposited;
        uint128 redeemed;
        uint64 withdrawableAt;
        uint64 epoch;
    }

    /// @notice The credit token held in escrow.
    IERC20 public immutable credit;
    /// @notice Seconds between a withdrawal request and the withdrawal.
    uint64 public immutable withdrawalDelay;

    mapping(address client => mapping(address prover => Channel)) private _channels;

    /// @notice A deposit of zero credits.
    error CreditEscrowZeroAmount();
    /// @notice The prover address is zero.
    error CreditEscrowZeroProver();
    /// @notice The channel's total deposit would exceed uint128.
    error CreditEscrowDepositOverflow(uint256 deposited);
    /// @notice The voucher was not signed by `client` (`signer` is who did sign, or zero).
    error CreditEscrowBadSignature(address signer, address client);
    /// @notice The voucher is not above what was already redeemed (a replay).
    error CreditEscrowVoucherNotNewer(uint256 cumulativeAmount, uint256 redeemed);
    /// @notice The voucher asks for more than the channel ever held.
    error CreditEscrowOverspent(uint256 cumulativeAmount, uint256 deposited);
    /// @notice The voucher is for epoch `epoch`, the channel is at `channelEpoch` (a closed channel's voucher).
    error CreditEscrowWrongEpoch(uint64 epoch, uint64 channelEpoch);
    /// @notice The client has not asked to withdraw from this channel.
    error CreditEscrowNoWithdrawalRequested(address client, address prover);
    /// @notice The withdrawal delay has not passed yet.
    error CreditEscrowWithdrawalTooEarly(uint256 withdrawableAt, uint256 timestamp);

    /// @notice `client` deposited `amount` for `prover`; the channel now holds `deposited` in all in `epoch`.
    event Deposited(
        address indexed client, address indexed prover, uint64 epoch, uint256 amount, uint256 deposited
    );
    /// @notice `prover` redeemed `amount`, bringing the channel's redeemed total in `epoch` to `cumulativeAmount`.
    event Redeemed(
        address indexed client, address indexed prover, uint64 epoch, uint256 amount, uint256 cumulativeAmount
    );
    /// @notice `client` asked to withdraw; possible from `withdrawableAt`.
    event WithdrawalRequested(address indexed client, address indexed prover, uint64 withdrawableAt);
    /// @notice A deposit by `client` cancelled its pending withdrawal (due at `withdrawableAt`).
    event WithdrawalCancelled(address indexed client, address indexed prover, uint64 withdrawableAt);
    /// @notice `client` took back `amount`, the unredeemed rest of the channel, closing it;
    /// vouchers must now be for `nextEpoch`.
    event Withdrawn(address indexed client, address indexed prover, uint256 amount, uint64 nextEpoch);

    /// @param credit_ the credit token
    /// @param withdrawalDelay_ seconds between a withdrawal request and the withdrawal
    constructor(IERC20 credit_, uint64 withdrawalDelay_) EIP712("ghostproof CreditEscrow", "1") {
        credit = credit_;
        withdrawalDelay = withdrawalDelay_;
    }

    /// @notice Deposit `amount` credits into the caller's channel to `prover` (approve first).
    /// Cancels a pending withdrawal of that channel.
    /// @param prover the channel's prover
    /// @param amount credits to add (non-zero)
    function deposit(address prover, uint256 amount) external {
        _deposit(prover, amount);
    }

    /// @notice Deposit with an EIP-2612 permit instead of a prior approval.
    /// Cancels a pending withdrawal of that channel.
    /// @dev A permit that fails (e.g. front-run) is ignored; the transfer then needs an allowance.
    /// @param prover the channel's prover
    /// @param amount credits to add (non-zero), also the permit's value
    /// @param deadline the permit's deadline
    /// @param v the permit signature's v
    /// @param r the permit signature's r
    /// @param s the permit signature's s
    function depositWithPermit(
        address prover,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        try IERC20Permit(address(credit)).permit(msg.sender, address(this), amount, deadline, v, r, s) {}
        catch {}
        _deposit(prover, amount);
    }

    /**
     * @notice Redeem the client's voucher for `cumulativeAmount` (caller: the prover); pays
     * the caller the difference from what was redeemed before.
     * @param client the channel's client, who signed the voucher
     * @param epoch the channel's current epoch, which the voucher names
     * @param cumulativeAmount total credits the client owes the caller in this epoch
     * @param signature the client's 65-byte EIP-712 signature of the voucher
     */
    function redeem(address client, uint64 epoch, uint256 cumulativeAmount, bytes calldata signature)
        external
    {
        Channel storage ch = _channels[client][msg.sender];
        uint64 channelEpoch = ch.epoch;
        if (epoch != channelEpoch) revert CreditEscrowWrongEpoch(epoch, channelEpoch);
        uint256 redeemed = ch.redeemed;
        if (cumulativeAmount <= redeemed) revert CreditEscrowVoucherNotNewer(cumulativeAmount, redeemed);
        uint256 deposited = ch.deposited;
        if (cumulativeAmount > deposited) revert CreditEscrowOverspent(cumulativeAmount, deposited);
        (address signer,,) =
            ECDSA.tryRecover(voucherDigest(client, msg.sender, epoch, cumulativeAmount), signature);
        if (signer != client) revert CreditEscrowBadSignature(signer, client);
        uint256 amount = cumulativeAmount - redeemed;
        ch.redeemed = uint128(cumulativeAmount);
        emit Redeemed(client, msg.sender, epoch, amount, cumulativeAmount);
        credit.safeTransfer(msg.sender, amount);
    }

    /// @notice Ask to withdraw the unredeemed rest of the caller's channel to `prover`;
    /// possible after {withdrawalDelay}. Asking again restarts the delay; a deposit cancels it.
    /// @param prover the channel's prover
    function requestWithdrawal(address prover) external {
        uint64 at = uint64(block.timestamp) + withdrawalDelay;
        _channels[msg.sender][prover].withdrawableAt = at;
        emit WithdrawalRequested(msg.sender, prover, at);
    }

    /// @notice Withdraw the unredeemed rest of the caller's channel to `prover`, once the delay
    /// has passed, and close the channel: `deposited` and `redeemed` restart from zero in the
    /// next epoch, and the closed epoch's vouchers can no longer be redeemed.
    /// @param prover the channel's prover
    function withdraw(address prover) external {
        Channel storage ch = _channels[msg.sender][prover];
        uint256 at = ch.withdrawableAt;
        if (at == 0) revert CreditEscrowNoWithdrawalRequested(msg.sender, prover);
        if (block.timestamp < at) revert CreditEscrowWithdrawalTooEarly(at, block.timestamp);
        uint256 amount = ch.deposited - ch.redeemed;
        uint64 nextEpoch = ch.epoch + 1;
        ch.deposited = 0;
        ch.redeemed = 0;
        ch.withdrawableAt = 0;
        ch.epoch = nextEpoch;
        emit Withdrawn(msg.sender, prover, amount, nextEpoch);
        credit.safeTransfer(msg.sender, amount);
    }

    /// @notice The channel from `client` to `prover`: deposited, redeemed, withdrawableAt
    /// (zero: no withdrawal pending) and epoch (the one its vouchers must name).
    /// @param client the channel's client
    /// @param prover the channel's prover
    function channel(address client, address prover) external view returns (Channel memory) {
        return _channels[client][prover];
    }

    /// @notice The EIP-712 digest a client signs for a voucher.
    /// @param client the channel's client (the signer)
    /// @param prover the channel's prover (the payee)
    /// @param epoch the channel's epoch the voucher is for
    /// @param cumulativeAmount total credits owed in that epoch
    function voucherDigest(address client, address prover, uint64 epoch, uint256 cumulativeAmount)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(VOUCHER_TYPEHASH, client, prover, epoch, cumulativeAmount))
        );
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _deposit(address prover, uint256 amount) private {
        if (amount == 0) revert CreditEscrowZeroAmount();
        if (prover == address(0)) revert CreditEscrowZeroProver();
        Channel storage ch = _channels[msg.sender][prover];
        uint256 deposited = uint256(ch.deposited) + amount;
        if (deposited > type(uint128).max) revert CreditEscrowDepositOverflow(deposited);
        ch.deposited = uint128(deposited);
        uint64 at = ch.withdrawableAt;
        if (at != 0) {
            ch.withdrawableAt = 0;
            emit WithdrawalCancelled(msg.sender, prover, at);
        }
        emit Deposited(msg.sender, prover, ch.epoch, amount, deposited);
        credit.safeTransferFrom(msg.sender, address(this), amount);
    }
}
