"""Where a prover's model is anchored, and anchoring it: the receipt domain ``prove`` signs
under (from DIR/anchor.json or the chain), and a model registered on a fresh embedded chain
(the demo). The prover role's use of the chain adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester, load_key_file
from ghostproof.adapters.chain.deployment import ONE_CREDIT, Deployment, DeployParams, deploy_all
from ghostproof.adapters.chain.provider import Chain, embedded_chain
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.adapters.fileio import read_capped
from ghostproof.adapters.storage.layout import ANCHOR_FILE, GHOST_FILE, KEY_FILE, read_ghost, read_ghost_bytes
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.jsonlimits import load_json

DEFAULT_PRICE = ONE_CREDIT // 100  # 0.01 credit per query
#: None: register the margin prover.margin.margin_for_model_dir calibrates (docs/SAFETY.md).
DEFAULT_MARGIN: int | None = None
DEMO_FUNDING_WEI = 10**18


MAX_ANCHOR_BYTES = 64 * 1024  # what `model commit` writes is well under 1 KiB
_ANCHOR_FIELDS = (("modelId", int), ("chainId", int), ("registry", str))



def read_anchor(directory: Path) -> dict[str, object]:
    """DIR/anchor.json written by ``model commit`` (empty when the model is not anchored).

    FormatError when it is not JSON (protocol.jsonlimits.load_json); ModelError when it is
    not an object, ``modelId``/``chainId`` are not integers, ``registry`` not a string, or
    ``prover`` (when present) not a 0x address.
    """

    path = directory / ANCHOR_FILE
    try:
        data = read_capped(path, MAX_ANCHOR_BYTES)
    except OSError:
        return {}
    obj = load_json(data, what=str(path), max_bytes=MAX_ANCHOR_BYTES)
    if not isinstance(obj, dict):
        raise ModelError(f"{path} must hold a JSON object (rerun `ghostproof model commit`)")
    for key, kind in _ANCHOR_FIELDS:
        value = obj.get(key, kind())
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ModelError(f"{path}: {key} must be a{'n integer' if kind is int else ' string'}")
    if "prover" in obj:
        try:
            from_hex(obj["prover"], "prover", 20)
        except ValueError:
            raise ModelError(f"{path}: prover must be a 0x-prefixed 20-byte address") from None
    return obj


@dataclass(frozen=True)
class ReceiptDomain:
    """Where a prover's receipts can be checked and challenged: model id, chain id and
    registry (None: no chain), and the model's registered prover when it is known."""

    model_id: int
    chain_id: int = 0
    registry: str | None = None
    prover: str | None = None
    source: str = "not anchored"

    def check_key(self, address: str) -> None:
        """NotRegisteredProverError unless a key with ``address`` may sign for this model
        (any key may when the registered prover is not known)."""
        from ghostproof.adapters.chain.registry import check_prover_key

        if self.prover is not None:
            check_prover_key(self.model_id, self.prover, address)


def _domain_from_chain(
    ghost: GhostFile, model_id: int | None, rpc: str, deployment_file: Path | None
) -> ReceiptDomain:
    from ghostproof.adapters.chain import check_ghost_root, read_registered_model
    from ghostproof.adapters.chain.deployment import load_deployment

    if model_id is None:
        raise InputError("prove --rpc needs --model-id (or DIR/anchor.json from `model commit`)")
    dep = load_deployment(deployment_file)
    registered = read_registered_model(rpc, deployment_file, model_id)
    check_ghost_root(registered, ghost)
    return ReceiptDomain(model_id, dep.chain_id, dep.registry, registered.prover,
                         f"chain {dep.chain_id}")


def prove_domain(
    directory: Path, model_id: int | None, rpc: str | None, deployment_file: Path | None
) -> ReceiptDomain:
    """The receipt domain ``prove`` signs under for the model in ``directory``.

    With ``rpc``: read from the chain (the model id from ``model_id``, else anchor.json; the
    directory's ghostRoot must be the registered one). Else DIR/anchor.json's, unless
    ``model_id`` names another model (then, as without anchor.json, receipts are for that
    id on no chain and no key is refused).
    """
    ghost = read_ghost(directory / GHOST_FILE)  # ModelError before any key or chain work
    anchor = read_anchor(directory)
    anchored_id = anchor.get("modelId")
    if rpc is not None:
        return _domain_from_chain(ghost, model_id if model_id is not None else anchored_id, rpc,
                                  deployment_file)
    if not anchor or (model_id is not None and model_id != anchored_id):
        return ReceiptDomain(model_id if model_id is not None else 0)
    return ReceiptDomain(
        model_id=int(anchored_id),  # type: ignore[arg-type]
        chain_id=int(anchor.get("chainId", 0)),  # type: ignore[arg-type]
        registry=str(anchor["registry"]) if anchor.get("registry") else None,
        prover=str(anchor["prover"]) if "prover" in anchor else None,
        source=str(directory / ANCHOR_FILE),
    )


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


def embedded_anchor(
    model_dir: Path,
    *,
    price: int = DEFAULT_PRICE,
    margin: int | None = DEFAULT_MARGIN,
    params: DeployParams | None = None,
) -> AnchorResult:
    """Start an embedded chain, deploy, fund the prover, and register ``model_dir``'s model.

    The prover is ``model_dir/prover.key`` if present, else dev account 1; it is given ETH
    and exactly the minimum stake in credits. ``gas`` holds the gas of every step. ``margin``
    None registers the calibrated one (prover.margin.margin_for_model_dir).
    """
    ghost_bytes, ghost = read_ghost_bytes(model_dir / GHOST_FILE)
    if margin is None:
        from .margin import margin_for_model_dir

        margin = margin_for_model_dir(model_dir).margin
    params = params or DeployParams()
    chain = embedded_chain()
    deployer = dev_account(chain, 0)
    key_file = model_dir / KEY_FILE
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
