"""The two entry points the rest of ghostproof calls: read a registered model (verify,
audit) and anchor a model on a fresh embedded chain (the demo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.protocol.ghost import GhostFile
from ghostproof.prover.modeldir import read_ghost_bytes

from .accounts import dev_account, fund_from_tester, load_key_file
from .deployment import ONE_CREDIT, Deployment, DeployParams, check_deployment, deploy_all
from .deployment import load_deployment as _load_deployment
from .errors import DeploymentError, RootMismatchError
from .provider import Chain, connect, embedded_chain
from .registry import RegisteredModel, mint_credits, read_model, register_model

DEFAULT_PRICE = ONE_CREDIT // 100  # 0.01 credit per query
DEFAULT_MARGIN = 0
DEMO_FUNDING_WEI = 10**18


@dataclass
class AnchorResult:
    """A model anchored on a fresh embedded chain: the handle, addresses, id and gas used."""

    chain: Chain
    deployment: Deployment
    model_id: int
    ghost_root: bytes
    ghost_cid: str
    prover: LocalAccount
    deployer: LocalAccount
    gas: dict[str, int] = field(default_factory=dict)


def read_ghost_dir(model_dir: Path) -> tuple[bytes, GhostFile]:
    """The ghost file bytes of a model directory and their parse (ModelError if absent)."""
    return read_ghost_bytes(model_dir / "ghost.json")


def read_registered_model(
    rpc_url: str | None,
    deployment_file: Path | None,
    model_id: int,
    *,
    chain: Chain | AnchorResult | None = None,
) -> RegisteredModel:
    """The model ``model_id`` as registered on-chain.

    The chain is ``chain`` when given (a Chain handle, or an AnchorResult from
    :func:`embedded_anchor`, whose own deployment is then used), else ``rpc_url``, else the
    RPC named in the deployment file. Raises ChainUnreachableError (RPC down),
    DeploymentError (missing/stale deployment), WrongChainError, UnknownModelError.
    """
    if isinstance(chain, AnchorResult):
        return read_model(chain.chain, chain.deployment, model_id)
    deployment = _load_deployment(deployment_file)
    if chain is None:
        url = rpc_url or deployment.rpc
        if url is None:
            raise DeploymentError("no --rpc given and the deployment file names no RPC")
        chain = connect(url)
    check_deployment(chain, deployment)
    return read_model(chain, deployment, model_id)


def check_ghost_root(model: RegisteredModel, ghost: GhostFile) -> None:
    """RootMismatchError unless ``ghost``'s ghostRoot is the one anchored for ``model``."""
    if ghost.ghost_root != model.ghost_root:
        raise RootMismatchError(
            f"ghost file root 0x{ghost.ghost_root.hex()} differs from model {model.model_id}'s "
            f"on-chain ghostRoot 0x{model.ghost_root.hex()}"
        )


def embedded_anchor(
    model_dir: Path,
    *,
    price: int = DEFAULT_PRICE,
    margin: int = DEFAULT_MARGIN,
    params: DeployParams | None = None,
) -> AnchorResult:
    """Start an embedded chain, deploy, fund the prover, and register ``model_dir``'s model.

    The prover is ``model_dir/prover.key`` if present, else dev account 1; it is given ETH
    and exactly the minimum stake in credits. ``gas`` holds the gas of every step.
    """
    ghost_bytes, ghost = read_ghost_dir(model_dir)
    params = params or DeployParams()
    chain = embedded_chain()
    deployer = dev_account(chain, 0)
    key_file = model_dir / "prover.key"
    prover = load_key_file(key_file) if key_file.exists() else dev_account(chain, 1)
    fund_from_tester(chain, deployer.address, DEMO_FUNDING_WEI)
    fund_from_tester(chain, prover.address, DEMO_FUNDING_WEI)
    deployment, gas = deploy_all(chain, deployer, params)
    gas["mint"] = int(
        mint_credits(chain, deployment, deployer, prover.address, params.min_stake)["gasUsed"]
    )
    reg = register_model(
        chain, deployment, prover, ghost_bytes, ghost,
        price=price, margin=margin, stake=params.min_stake,
    )
    gas["approve"] = reg.gas_approve
    gas["register"] = reg.gas_register
    return AnchorResult(
        chain=chain,
        deployment=deployment,
        model_id=reg.model_id,
        ghost_root=reg.ghost_root,
        ghost_cid=reg.ghost_cid,
        prover=prover,
        deployer=deployer,
        gas=gas,
    )
