"""Reading what is anchored: a registered model by id (verify, audit, fetch, the node) and
the check that a ghost file is the one anchored for it.
"""

from __future__ import annotations

from pathlib import Path

from ghostproof.protocol.errors import DeploymentError, RootMismatchError
from ghostproof.protocol.ghost import GhostFile

from .deployment import Deployment, check_deployment
from .deployment import load_deployment as _load_deployment
from .provider import Chain, connect
from .registry import RegisteredModel, find_version, read_model


def read_registered_model(
    rpc_url: str | None,
    deployment_file: Path | None,
    model_id: int,
    *,
    chain: Chain | None = None,
    deployment: Deployment | None = None,
) -> RegisteredModel:
    """The model ``model_id`` as registered on-chain.

    The chain is ``chain`` when given (with ``deployment``, used as it is), else ``rpc_url``,
    else the RPC named in the deployment file. Raises ChainUnreachableError (RPC down),
    DeploymentError (missing/stale deployment), WrongChainError, UnknownModelError.
    """
    if chain is not None and deployment is not None:
        return read_model(chain, deployment, model_id)
    deployment = _load_deployment(deployment_file)
    if chain is None:
        url = rpc_url or deployment.rpc
        if url is None:
            raise DeploymentError("no --rpc given and the deployment file names no RPC")
        chain = connect(url)
    check_deployment(chain, deployment)
    return read_model(chain, deployment, model_id)


def registered_version(
    rpc_url: str | None, deployment_file: Path | None, model: RegisteredModel, root: bytes
) -> int | None:
    """The version of ``model`` whose ghostRoot is ``root`` (its current one, or a superseded
    one: receipts signed under an old version stay verifiable), or None. Connects as
    :func:`read_registered_model` does."""
    if root == model.ghost_root:
        return model.version
    deployment = _load_deployment(deployment_file)
    url = rpc_url or deployment.rpc
    if url is None:
        raise DeploymentError("no --rpc given and the deployment file names no RPC")
    return find_version(connect(url), deployment, model, root)


def check_ghost_root(model: RegisteredModel, ghost: GhostFile) -> None:
    """RootMismatchError unless ``ghost``'s ghostRoot is the one anchored for ``model``."""
    if ghost.ghost_root != model.ghost_root:
        raise RootMismatchError(
            f"ghost file root 0x{ghost.ghost_root.hex()} differs from model {model.model_id}'s "
            f"on-chain ghostRoot 0x{model.ghost_root.hex()}"
        )


