// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/**
 * @title GhostCredit
 * @notice The ERC-20 (+ EIP-2612 permit) credit token that pays for proven queries and
 * backs provers' stakes. Anyone can buy credits for ETH at a fixed rate; the owner can
 * mint (the faucet on dev chains) and collect the ETH paid. Holders may burn their own
 * credits (ERC20Burnable): the registry burns the part of a slashed stake that does not go
 * to the challenger.
 */
contract GhostCredit is ERC20, ERC20Burnable, ERC20Permit, Ownable {
    /// @notice Credits (in the token's smallest unit) minted per wei paid to {buy}.
    uint256 public immutable creditsPerWei;

    /// @notice {buy} was called without ETH, or the ETH buys no credit.
    error GhostCreditNothingToBuy(uint256 weiPaid);
    /// @notice Credits are not for sale on this deployment (creditsPerWei is 0).
    error GhostCreditSaleClosed();

    /// @notice `buyer` paid `weiPaid` and received `credits`.
    event CreditsBought(address indexed buyer, uint256 weiPaid, uint256 credits);
    /// @notice The owner sent `amount` wei of sale proceeds to `to`.
    event ProceedsWithdrawn(address indexed to, uint256 amount);

    /// @param initialOwner who may mint and collect proceeds
    /// @param creditsPerWei_ sale rate; 0 closes the sale
    constructor(address initialOwner, uint256 creditsPerWei_)
        ERC20("Ghost Credit", "GHC")
        ERC20Permit("Ghost Credit")
        Ownable(initialOwner)
    {
        creditsPerWei = creditsPerWei_;
    }

    /// @notice Buy credits with the ETH sent, at {creditsPerWei}.
    /// @return credits the amount minted to the caller
    function buy() external payable returns (uint256 credits) {
        if (creditsPerWei == 0) revert GhostCreditSaleClosed();
        credits = msg.value * creditsPerWei;
        if (credits == 0) revert GhostCreditNothingToBuy(msg.value);
        _mint(msg.sender, credits);
        emit CreditsBought(msg.sender, msg.value, credits);
    }

    /// @notice Mint `amount` credits to `to` (owner only: the dev-chain faucet).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Send all ETH paid for credits to `to` (owner only).
    function withdrawProceeds(address payable to) external onlyOwner {
        uint256 amount = address(this).balance;
        emit ProceedsWithdrawn(to, amount);
        Address.sendValue(to, amount);
    }
}
