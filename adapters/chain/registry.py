"""GhostRegistry and GhostCredit clients: register a model, read it back, update, retire,
open layer roots on-chain; balances and the dev faucet.

Used by the CLI (``model commit``, ``prove``, ``verify --model-id``, ``chain buy``), the demo
and the audit. The ``check_*`` functions raise, change nothing, and are what binds an answer
or a signing key to the model id's registry entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from multiformats import CID, multihash
from web3.logs import DISCARD
from web3.types import TxReceipt

from ghostproof.protocol.chunks import cid_for_bytes, parse_cid
from ghostproof.protocol.constants import MATRIX_TAGS
from ghostproof.protocol.errors import (
    InsufficientFundsError,
    ModelRetiredError,
    NotRegisteredProverError,
    ProverMismatchError,
    TransactionRevertedError,
    UnknownModelError,
)
from ghostproof.protocol.ghost import GhostFile, LayerRootOpening

from .deployment import Deployment, contract
from .provider import Chain, rpc_errors
from .tx import call, estimate, transact


def _registry(chain: Chain, deployment: Deployment) -> Any:
    """The deployment's GhostRegistry."""
    return contract(chain, "GhostRegistry", deployment.registry)


def _credit(chain: Chain, deployment: Deployment) -> Any:
    """The deployment's GhostCredit."""
    return contract(chain, "GhostCredit", deployment.credit)


def cid_digest(cid: str) -> bytes:
    """The sha2-256 digest inside a CIDv1/raw/sha2-256 CID (what the registry stores)."""
    return bytes(parse_cid(cid).raw_digest)


def cid_from_digest(digest: bytes) -> str:
    """The CIDv1/raw/sha2-256 (base32) CID whose digest is ``digest``."""
    return str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))


@dataclass(frozen=True)
class RegisteredModel:
    """A model as the registry holds it."""

    model_id: int
    ghost_root: bytes
    ghost_cid: str
    prover: str
    price: int
    margin: int
    stake: int
    active: bool
    unbonding_ends_at: int
    slashed: bool = False
    version: int = 0

    def challenge_window_open(self, now: int) -> bool:
        """Whether a challenge can still slash this model at time ``now``: it has a stake and is
        active, or retired with unbonding not yet over."""
        return self.stake > 0 and (self.active or now < self.unbonding_ends_at)

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` output."""
        return {
            "modelId": self.model_id,
            "ghostRoot": "0x" + self.ghost_root.hex(),
            "ghostCid": self.ghost_cid,
            "prover": self.prover,
            "pricePerQuery": str(self.price),
            "selectionMargin": self.margin,
            "stake": str(self.stake),
            "active": self.active,
            "unbondingEndsAt": self.unbonding_ends_at,
            "slashed": self.slashed,
            "version": self.version,
        }


def read_model(chain: Chain, deployment: Deployment, model_id: int) -> RegisteredModel:
    """The registered model ``model_id``; UnknownModelError if there is none."""
    registry = _registry(chain, deployment)
    if not 0 < model_id < 1 << 256:
        raise UnknownModelError(f"model id {model_id} does not exist (ids start at 1)")
    try:
        m = call(chain, registry.functions.getModel(model_id), "getModel")
    except TransactionRevertedError as exc:
        if exc.error == "GhostRegistryUnknownModel":
            raise UnknownModelError(
                f"model {model_id} is not registered on chain {deployment.chain_id} "
                f"(registry {deployment.registry})"
            ) from exc
        raise
    root, digest, prover, price, stake, margin, unbonding, active, slashed, version = m
    return RegisteredModel(
        model_id=model_id,
        ghost_root=bytes(root),
        ghost_cid=cid_from_digest(bytes(digest)),
        prover=prover,
        price=int(price),
        margin=int(margin),
        stake=int(stake),
        active=bool(active),
        unbonding_ends_at=int(unbonding),
        slashed=bool(slashed),
        version=int(version),
    )


def check_active(model: RegisteredModel, *, allow_retired: bool = False) -> None:
    """ModelRetiredError if ``model`` is retired, unless ``allow_retired`` (checking an answer
    given while it was active)."""
    if model.slashed:
        raise ModelRetiredError(
            f"model {model.model_id} was slashed: a challenge showed its prover signed a wrong "
            "selection, and no stake stands behind its answers"
        )
    if not model.active and not allow_retired:
        raise ModelRetiredError(
            f"model {model.model_id} is retired: its prover no longer stands behind answers "
            "(pass --allow-retired to check one it gave before)"
        )


def _same_address(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def check_signer(model: RegisteredModel, signer: str) -> None:
    """ProverMismatchError unless ``signer`` (the address *recovered* from a receipt's
    signature) is ``model``'s registered prover. Anyone may register an existing ghostRoot
    and CID; only the prover of this model id stands behind its answers with its stake."""
    if not _same_address(signer, model.prover):
        raise ProverMismatchError(
            f"receipt is signed by {signer}, but model {model.model_id}'s registered prover "
            f"is {model.prover}"
        )


def check_prover_key(model_id: int, prover: str, address: str) -> None:
    """NotRegisteredProverError unless the signing key's ``address`` is ``prover``, the
    registered prover of ``model_id``: a receipt signed by any other key fails verification."""
    if not _same_address(address, prover):
        raise NotRegisteredProverError(
            f"signing key {address} is not model {model_id}'s registered prover {prover}: "
            "sign with the key that committed it (--keystore FILE, or --dev-account N on a local chain)"
        )


def credit_balance(chain: Chain, deployment: Deployment, address: str) -> int:
    """Credits held by ``address``."""
    token = _credit(chain, deployment)
    return int(call(chain, token.functions.balanceOf(address), "balanceOf"))


def mint_credits(
    chain: Chain, deployment: Deployment, owner: LocalAccount, to: str, amount: int
) -> TxReceipt:
    """Mint ``amount`` credits to ``to`` (``owner`` must own GhostCredit: the dev faucet)."""
    token = _credit(chain, deployment)
    return transact(chain, owner, token.functions.mint(to, amount), "mint credits")


def approve_credits(
    chain: Chain, deployment: Deployment, account: LocalAccount, spender: str, amount: int
) -> TxReceipt:
    """Approve ``spender`` to pull ``amount`` credits from ``account``."""
    token = _credit(chain, deployment)
    return transact(chain, account, token.functions.approve(spender, amount), "approve credits")


def buy_credits(
    chain: Chain, deployment: Deployment, account: LocalAccount, units: int
) -> tuple[int, int]:
    """Buy at least ``units`` credit units for ETH from GhostCredit at its on-chain rate (any
    chain). Returns (units minted, wei paid). TransactionRevertedError if the sale is closed
    or ``units`` is 0; InsufficientFundsError (nothing sent) if the account cannot pay."""
    token = _credit(chain, deployment)
    rate = int(call(chain, token.functions.creditsPerWei(), "creditsPerWei"))
    wei = -(-units // rate) if rate else 0  # round up: never fewer credits than asked
    with rpc_errors(chain):
        held = int(chain.w3.eth.get_balance(account.address))
    if held < wei:  # a node refuses to estimate gas for a value the account lacks
        raise InsufficientFundsError(
            f"account {account.address} has {held} wei, {units} credit units cost {wei} wei "
            "plus gas: fund it first"
        )
    receipt = transact(chain, account, token.functions.buy(), "buy credits", value=wei)
    events = token.events.CreditsBought().process_receipt(receipt, errors=DISCARD)
    return int(events[0]["args"]["credits"]), wei


@dataclass(frozen=True)
class Registration:
    """Outcome of :func:`register_model`."""

    model_id: int
    ghost_root: bytes
    ghost_cid: str
    gas_register: int
    gas_approve: int
    block: int


def register_model(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    ghost_bytes: bytes,
    ghost: GhostFile,
    *,
    price: int,
    margin: int,
    stake: int,
) -> Registration:
    """Register the model whose ghost file is ``ghost_bytes`` (parsed: ``ghost``), staking
    ``stake`` credits from ``account``. Checks the credit balance first
    (InsufficientFundsError), approves exactly the stake, then registers.
    """
    registry = _registry(chain, deployment)
    held = credit_balance(chain, deployment, account.address)
    if held < stake:
        raise InsufficientFundsError(
            f"account {account.address} holds {held} credits, the stake is {stake}: "
            "buy credits (GhostCredit.buy) or use the faucet on a dev chain"
        )
    cid = cid_for_bytes(ghost_bytes)
    call_ = registry.functions.register(ghost.ghost_root, cid_digest(cid), price, margin, stake)
    approve = approve_credits(chain, deployment, account, deployment.registry, stake)
    receipt = transact(chain, account, call_, "register")
    events = registry.events.ModelRegistered().process_receipt(receipt, errors=DISCARD)
    model_id = int(events[0]["args"]["modelId"])
    return Registration(
        model_id=model_id,
        ghost_root=ghost.ghost_root,
        ghost_cid=cid,
        gas_register=int(receipt["gasUsed"]),
        gas_approve=int(approve["gasUsed"]),
        block=int(receipt["blockNumber"]),
    )


def update_price(
    chain: Chain, deployment: Deployment, account: LocalAccount, model_id: int, price: int
) -> TxReceipt:
    """Set the price per query of ``model_id`` (its prover only)."""
    registry = _registry(chain, deployment)
    return transact(chain, account, registry.functions.updatePrice(model_id, price), "updatePrice")


def retire_model(
    chain: Chain, deployment: Deployment, account: LocalAccount, model_id: int
) -> TxReceipt:
    """Retire ``model_id`` (its prover only)."""
    registry = _registry(chain, deployment)
    return transact(chain, account, registry.functions.retire(model_id), "retire")


def _opening_args(opening: LayerRootOpening) -> tuple[object, ...]:
    return (
        opening.layer,
        MATRIX_TAGS[opening.matrix],
        opening.root,
        opening.header_hash,
        opening.n_layers,
        list(opening.proof),
    )


def _verify_layer_root_fn(
    chain: Chain, deployment: Deployment, model_id: int, opening: LayerRootOpening
) -> Any:
    """The GhostRegistry.verifyLayerRoot call of ``opening`` against ``model_id``."""
    return _registry(chain, deployment).functions.verifyLayerRoot(model_id, *_opening_args(opening))


def verify_layer_root(
    chain: Chain, deployment: Deployment, model_id: int, opening: LayerRootOpening
) -> bool:
    """Whether the registry accepts ``opening`` against ``model_id``'s anchored ghostRoot."""
    return bool(call(chain, _verify_layer_root_fn(chain, deployment, model_id, opening),
                     "verifyLayerRoot"))


def process_layer_root(chain: Chain, deployment: Deployment, opening: LayerRootOpening) -> bytes:
    """The ghostRoot the EVM computes from ``opening`` (GhostRegistry.processLayerRoot)."""
    registry = _registry(chain, deployment)
    fn = registry.functions.processLayerRoot(*_opening_args(opening))
    return bytes(call(chain, fn, "processLayerRoot"))


def layer_root_gas(
    chain: Chain, deployment: Deployment, model_id: int, opening: LayerRootOpening
) -> int:
    """Gas of a verifyLayerRoot call (as a transaction would pay it, base cost included)."""
    return estimate(chain, _verify_layer_root_fn(chain, deployment, model_id, opening))


def version_root(chain: Chain, deployment: Deployment, model_id: int, version: int) -> bytes:
    """The ghostRoot of version ``version`` of ``model_id`` (0 = as registered);
    TransactionRevertedError (GhostRegistryUnknownVersion) for a version it does not have."""
    fn = _registry(chain, deployment).functions.versionRoot(model_id, version)
    return bytes(call(chain, fn, "versionRoot"))


def find_version(chain: Chain, deployment: Deployment, model: RegisteredModel, root: bytes) -> int | None:
    """The version of ``model`` whose ghostRoot is ``root`` (the newest, if a root recurs), or
    None. One call per superseded version, newest first."""
    if root == model.ghost_root:
        return model.version
    for version in range(model.version - 1, -1, -1):
        if version_root(chain, deployment, model.model_id, version) == root:
            return version
    return None


@dataclass(frozen=True)
class Rotation:
    """A model version registered by ``rotateRoot``, as its RootRotated event tells it."""

    model_id: int
    version: int
    old_root: bytes
    new_root: bytes
    ghost_cid: str
    update_proof_cid: str
    block: int
    gas_used: int = 0

    def to_json(self) -> dict[str, object]:
        """JSON form for ``--json`` output."""
        return {"modelId": self.model_id, "version": self.version, "oldRoot": "0x" + self.old_root.hex(),
                "newRoot": "0x" + self.new_root.hex(), "ghostCid": self.ghost_cid,
                "updateProofCid": self.update_proof_cid, "block": self.block, "gasUsed": self.gas_used}


def _rotation(args: Any, block: int, gas: int = 0) -> Rotation:
    return Rotation(
        model_id=int(args["modelId"]), version=int(args["version"]), old_root=bytes(args["oldRoot"]),
        new_root=bytes(args["newRoot"]), ghost_cid=cid_from_digest(bytes(args["ghostCidDigest"])),
        update_proof_cid=cid_from_digest(bytes(args["updateProofCidDigest"])), block=block, gas_used=gas,
    )


def rotate_root(
    chain: Chain, deployment: Deployment, account: LocalAccount, model_id: int, ghost_bytes: bytes,
    ghost: GhostFile, update_proof_cid: str,
) -> Rotation:
    """Move ``model_id`` (its prover: ``account``) to the version whose ghost file is
    ``ghost_bytes`` (parsed: ``ghost``), naming the update proof stored as ``update_proof_cid``."""
    registry = _registry(chain, deployment)
    fn = registry.functions.rotateRoot(model_id, ghost.ghost_root, cid_digest(cid_for_bytes(ghost_bytes)),
                                       cid_digest(update_proof_cid))
    receipt = transact(chain, account, fn, "rotateRoot")
    event = registry.events.RootRotated().process_receipt(receipt, errors=DISCARD)[0]
    return _rotation(event["args"], int(receipt["blockNumber"]), int(receipt["gasUsed"]))


def _model_logs(chain: Chain, deployment: Deployment, event: str, model_id: int) -> list[Any]:
    """The registry's ``event`` logs for ``model_id`` since the deployment's block."""
    registry = _registry(chain, deployment)
    with rpc_errors(chain):
        return list(getattr(registry.events, event)().get_logs(
            from_block=deployment.block or 0, argument_filters={"modelId": model_id}))


def read_rotations(chain: Chain, deployment: Deployment, model_id: int) -> list[Rotation]:
    """Every rotation of ``model_id``, oldest first (from the RootRotated logs since the
    deployment's block)."""
    logs = _model_logs(chain, deployment, "RootRotated", model_id)
    return sorted((_rotation(log["args"], int(log["blockNumber"])) for log in logs), key=lambda r: r.version)


def ghost_cid_of(chain: Chain, deployment: Deployment, model: RegisteredModel, root: bytes) -> str:
    """The ghost file CID registered for ``model``'s version with ghostRoot ``root`` (from the
    RootRotated and ModelRegistered logs); UnknownModelError when no version has that root."""
    if root == model.ghost_root:
        return model.ghost_cid
    for rotation in reversed(read_rotations(chain, deployment, model.model_id)):
        if rotation.new_root == root:
            return rotation.ghost_cid
    for log in _model_logs(chain, deployment, "ModelRegistered", model.model_id):
        if bytes(log["args"]["ghostRoot"]) == root:
            return cid_from_digest(bytes(log["args"]["ghostCidDigest"]))
    raise UnknownModelError(f"model {model.model_id} has had no version with ghostRoot 0x{root.hex()}")
