"""Deploying the four contracts, and the deployment file that records where they are.

The deployment file is JSON ``{"chainId", "rpc", "block", "deployer", "contracts":
{"GhostCredit", "GhostRegistry", "CreditEscrow", "GhostAttestations"}, "params"}``, written
atomically (temporary file, then rename), so a failed deploy leaves no half-written file.
``GhostAttestations`` may be absent (a deployment made before it existed): everything but
availability attestations works without it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_checksum_address

from ghostproof.protocol.errors import DeploymentError, FormatError, WrongChainError
from ghostproof.protocol.jsonlimits import load_json

from .contracts import load_artifact
from .provider import Chain, rpc_errors
from .tx import transact

DEPLOYMENT_NAME = "deployment.json"
MAX_DEPLOYMENT_BYTES = 1 << 20  # a few addresses and parameters; files may come from others
CREDIT_DECIMALS = 18
ONE_CREDIT = 10**CREDIT_DECIMALS


def whole_units(units: int) -> str:
    """Base units (credits or wei, both 18 decimals) as a decimal number of whole ones:
    ``whole_units(5 * 10**16) == "0.05"``."""
    return format(Decimal(units).scaleb(-CREDIT_DECIMALS).normalize(), "f")


@dataclass(frozen=True)
class DeployParams:
    """Constructor parameters of a deployment."""

    credits_per_wei: int = 1000  # 1 ETH buys 1000 credits
    min_stake: int = 100 * ONE_CREDIT
    unbonding_period_s: int = 12 * 3600
    withdrawal_delay_s: int = 24 * 3600
    attestation_epoch_s: int = 24 * 3600

    def to_json(self) -> dict[str, int]:
        """The params' JSON object."""
        return {
            "creditsPerWei": self.credits_per_wei,
            "minStake": self.min_stake,
            "unbondingPeriod": self.unbonding_period_s,
            "withdrawalDelay": self.withdrawal_delay_s,
            "attestationEpoch": self.attestation_epoch_s,
        }


@dataclass(frozen=True)
class Deployment:
    """Where the contracts of one deployment live."""

    chain_id: int
    credit: str
    registry: str
    escrow: str
    block: int
    deployer: str
    rpc: str | None = None
    params: dict[str, int] = field(default_factory=dict)
    attestations: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The deployment file's JSON object."""
        contracts = {
            "GhostCredit": self.credit,
            "GhostRegistry": self.registry,
            "CreditEscrow": self.escrow,
        }
        if self.attestations is not None:
            contracts["GhostAttestations"] = self.attestations
        return {
            "chainId": self.chain_id,
            "rpc": self.rpc,
            "block": self.block,
            "deployer": self.deployer,
            "contracts": contracts,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, obj: object, source: str = "deployment") -> Deployment:
        """Parse a deployment file's object; DeploymentError naming ``source`` otherwise."""
        try:
            contracts = obj["contracts"]  # type: ignore[index]
            dep = cls(
                chain_id=int(obj["chainId"]),  # type: ignore[index]
                credit=contracts["GhostCredit"],
                registry=contracts["GhostRegistry"],
                escrow=contracts["CreditEscrow"],
                block=int(obj["block"]),  # type: ignore[index]
                deployer=obj["deployer"],  # type: ignore[index]
                rpc=obj.get("rpc"),  # type: ignore[union-attr]
                params=dict(obj.get("params", {})),  # type: ignore[union-attr]
                attestations=contracts.get("GhostAttestations"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DeploymentError(f"{source} is not a ghostproof deployment file") from exc
        optional = (dep.attestations,) if dep.attestations is not None else ()
        for address in (dep.credit, dep.registry, dep.escrow, *optional):
            if not isinstance(address, str) or not is_checksum_address(address):
                raise DeploymentError(f"{source} holds a malformed address {address!r}")
        return dep


def default_deployment_path() -> Path:
    """``./deployment.json`` if it exists, else ``~/.ghostproof/deployment.json``."""
    local = Path.cwd() / DEPLOYMENT_NAME
    if local.exists():
        return local
    return Path.home() / ".ghostproof" / DEPLOYMENT_NAME


def load_deployment(path: Path | None) -> Deployment:
    """Read a deployment file (default: :func:`default_deployment_path`); DeploymentError if
    it is missing, over MAX_DEPLOYMENT_BYTES, not JSON (protocol.jsonlimits.load_json) or
    malformed."""
    path = path or default_deployment_path()
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_DEPLOYMENT_BYTES + 1)
    except OSError as exc:
        raise DeploymentError(
            f"no deployment file at {path} (run `ghostproof deploy` or pass --deployment)"
        ) from exc
    try:
        obj = load_json(data, what=f"deployment file {path}", max_bytes=MAX_DEPLOYMENT_BYTES)
    except FormatError as exc:
        raise DeploymentError(str(exc)) from exc
    return Deployment.from_json(obj, f"deployment file {path}")


def save_deployment(path: Path, deployment: Deployment) -> None:
    """Write ``deployment`` to ``path`` atomically.

    If the file cannot be written, raises DeploymentError naming the deployed addresses (the
    contracts exist and were paid for; the message is then their only record), leaving no
    temporary file behind.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(deployment.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        where = ", ".join(f"{k} {v}" for k, v in deployment.to_json()["contracts"].items())
        raise DeploymentError(
            f"cannot write deployment file {path} ({exc.strerror or exc}); the contracts are "
            f"deployed on chain {deployment.chain_id} at block {deployment.block}: {where}"
        ) from exc


def check_deployment(chain: Chain, deployment: Deployment) -> None:
    """Raise WrongChainError / DeploymentError unless ``deployment`` lives on ``chain``."""
    chain_id = chain.chain_id
    if chain_id != deployment.chain_id:
        raise WrongChainError(
            f"{chain.describe()} is chain {chain_id}, the deployment is on chain "
            f"{deployment.chain_id}"
        )
    with rpc_errors(chain):
        for name, address in (
            ("GhostRegistry", deployment.registry),
            ("CreditEscrow", deployment.escrow),
            ("GhostCredit", deployment.credit),
            *((("GhostAttestations", deployment.attestations),) if deployment.attestations else ()),
        ):
            if not chain.w3.eth.get_code(address):
                raise DeploymentError(
                    f"no {name} code at {address} on {chain.describe()} (stale deployment file?)"
                )


def contract(chain: Chain, name: str, address: str) -> Any:
    """A web3 contract object for ``name`` at ``address``."""
    return chain.w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def deploy_all(
    chain: Chain, account: LocalAccount, params: DeployParams | None = None
) -> tuple[Deployment, dict[str, int]]:
    """Deploy GhostCredit, GhostRegistry, CreditEscrow and GhostAttestations from ``account``.

    Returns the deployment and the gas used per step (keys ``deploy GhostCredit`` …,
    ``seed GhostRegistry``, ``seed CreditEscrow``).
    """
    params = params or DeployParams()
    gas: dict[str, int] = {}
    addresses: dict[str, str] = {}
    args: dict[str, tuple[object, ...]] = {
        "GhostCredit": (account.address, params.credits_per_wei),
    }
    block = 0
    for name in ("GhostCredit", "GhostRegistry", "CreditEscrow", "GhostAttestations"):
        if name == "GhostRegistry":
            args[name] = (addresses["GhostCredit"], params.min_stake, params.unbonding_period_s)
        if name == "CreditEscrow":
            args[name] = (addresses["GhostCredit"], params.withdrawal_delay_s)
        if name == "GhostAttestations":
            args[name] = (addresses["GhostRegistry"], params.attestation_epoch_s)
        artifact = load_artifact(name)
        factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = transact(chain, account, factory.constructor(*args[name]), f"deploy {name}")
        addresses[name] = receipt["contractAddress"]
        gas[f"deploy {name}"] = int(receipt["gasUsed"])
        block = int(receipt["blockNumber"])
    # Seed the registry and the escrow with one credit unit each (owner mint), so the first
    # prover's register and the first client's deposit do not pay the one-time 17.1k gas
    # of a zero-to-nonzero token balance (the trick Uniswap's MINIMUM_LIQUIDITY plays).
    credit = chain.w3.eth.contract(address=addresses["GhostCredit"],
                                   abi=load_artifact("GhostCredit")["abi"])
    for name in ("GhostRegistry", "CreditEscrow"):
        receipt = transact(chain, account, credit.functions.mint(addresses[name], 1), "seed")
        gas[f"seed {name}"] = int(receipt["gasUsed"])
        block = int(receipt["blockNumber"])
    deployment = Deployment(
        chain_id=chain.chain_id,
        credit=addresses["GhostCredit"],
        registry=addresses["GhostRegistry"],
        escrow=addresses["CreditEscrow"],
        attestations=addresses["GhostAttestations"],
        block=block,
        deployer=account.address,
        rpc=chain.rpc_url,
        params=params.to_json(),
    )
    return deployment, gas
