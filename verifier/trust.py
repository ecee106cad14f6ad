"""What binds a proven answer to the world, for the CLI's ``prove`` and ``verify``.

- The *receipt domain* a prover signs under (model id, chain id, registry) and the prover
  registered for it: from DIR/anchor.json (written by ``model commit``), or read from the
  chain with ``--rpc``. ``prove`` refuses a key that is not the registered prover.
- The *request* a client sent (input and nonce, from a request file or ``--input/--nonce``):
  ``verify`` checks that the answer answers it.
- The *trust anchor* ``verify`` checks against: a ghostRoot from the chain (the model must be
  active and the receipt signed by its registered prover), from ``--root``, or from the
  ghost file itself (not trust-minimised).

Each function validates and raises (errors by meaning, mapped to exit codes by the CLI);
none changes state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ghostproof.adapters.chain.registry import RegisteredModel
from ghostproof.protocol.errors import InputError, ModelError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.response import Request, Response
from ghostproof.verifier.verify import Expected, VerifiedOutput, verify

ANCHOR_FILE = "anchor.json"
MAX_ANCHOR_BYTES = 64 * 1024  # what `model commit` writes is well under 1 KiB
_ANCHOR_FIELDS = (("modelId", int), ("chainId", int), ("registry", str))


def read_anchor(directory: Path) -> dict[str, object]:
    """DIR/anchor.json written by ``model commit`` (empty when the model is not anchored).

    FormatError when it is not JSON (protocol.jsonlimits.load_json); ModelError when it is
    not an object, ``modelId``/``chainId`` are not integers, ``registry`` not a string, or
    ``prover`` (when present) not a 0x address.
    """
    from ghostproof.protocol.jsonlimits import load_json
    from ghostproof.prover.modeldir import read_capped

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
    from ghostproof.prover.modeldir import GHOST_FILE, read_ghost

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


@dataclass(frozen=True)
class SentRequest:
    """The request a client sent (None: not given) and the model id it names (None: none)."""

    request: Request | None = None
    model_id: int | None = None


def sent_request(
    request_file: Path | None, input_file: Path | None, nonce: str | None, model_id: int | None
) -> SentRequest:
    """The request the client sent: a request file (which names its model id), or
    ``input_file`` (.npy) with ``nonce`` for ``model_id``. InputError when the options are
    mixed or one half is missing, or the file names another model id than ``model_id``."""
    from ghostproof.adapters.storage.files import read_request, request_from_input

    if request_file is not None:
        if input_file is not None or nonce is not None:
            raise InputError("give --request FILE or --input X.npy --nonce 0x…, not both")
        request = read_request(request_file)
        if model_id is not None and model_id != request.model_id:
            raise InputError(
                f"--model-id {model_id} differs from the request's model id {request.model_id}"
            )
        return SentRequest(request, request.model_id)
    if (input_file is None) != (nonce is None):
        raise InputError("--input and --nonce go together: the request is its input and nonce")
    if input_file is None or nonce is None:
        return SentRequest(None, model_id)
    return SentRequest(request_from_input(input_file, nonce, model_id or 0), model_id)


@dataclass(frozen=True)
class Trust:
    """What ``verify`` checks an answer against: the anchored ghostRoot and where it came
    from, the fields the receipt must carry, and the registry entry (with ``--rpc``)."""

    ghost_root: bytes
    source: str
    expected: Expected
    registered: RegisteredModel | None = None
    anchored: bool = True

    @property
    def bound_to_request(self) -> bool:
        """Whether the answer is checked against the request the client sent."""
        return self.expected.request is not None


def chain_trust(
    rpc: str | None,
    deployment_file: Path | None,
    model_id: int,
    request: Request | None,
    *,
    allow_retired: bool = False,
) -> Trust:
    """Trust the chain: model ``model_id``'s ghostRoot and registered prover, the deployment's
    chain id and registry. ModelRetiredError if it is retired (unless ``allow_retired``);
    the adapter's errors if the chain or the deployment file fails."""
    from ghostproof.adapters.chain import read_registered_model
    from ghostproof.adapters.chain.deployment import load_deployment
    from ghostproof.adapters.chain.registry import check_active

    registered = read_registered_model(rpc, deployment_file, model_id)
    check_active(registered, allow_retired=allow_retired)
    dep = load_deployment(deployment_file)
    expected = Expected(
        model_id=model_id,
        chain_id=dep.chain_id,
        verifying_contract=dep.registry,
        prover=registered.prover,
        request=request,
    )
    return Trust(registered.ghost_root, f"chain {dep.chain_id} (model {model_id})", expected,
                 registered)


def local_trust(ghost: GhostFile, root: str | None, sent: SentRequest) -> Trust:
    """Trust ``root`` (0x…, from the user), else the ghost file itself (``anchored`` False);
    the receipt must name the model id the request names, if any."""
    expected = Expected(model_id=sent.model_id, request=sent.request)
    if root is not None:
        return Trust(from_hex(root, "--root", 32), "--root", expected)
    return Trust(ghost.ghost_root, "ghost file (not anchored: pass --root or --rpc to "
                 "trust-minimise)", expected, anchored=False)


def verify_trust(
    ghost: GhostFile,
    sent: SentRequest,
    *,
    root: str | None,
    rpc: str | None,
    model_id: int | None,
    deployment_file: Path | None,
    allow_retired: bool = False,
) -> Trust:
    """What ``verify`` trusts: the chain when ``rpc`` or ``model_id`` is given (without
    ``rpc``, the RPC the deployment file names; the model id is ``model_id`` or the request
    file's), else ``root``, else the ghost file. InputError for --root with the chain."""
    if rpc is None and model_id is None:
        return local_trust(ghost, root, sent)
    if root is not None:
        raise InputError("give --root or --rpc/--model-id, not both")
    if sent.model_id is None:
        raise InputError("--rpc needs --model-id (or a --request file naming the model)")
    return chain_trust(rpc, deployment_file, sent.model_id, sent.request,
                       allow_retired=allow_retired)


def _check_intact_receipt_signer(registered: RegisteredModel, response: Response) -> None:
    """ProverMismatchError, naming both addresses, for an intact receipt (its signature
    recovers to the prover it names) signed by another key than the registered prover: e.g.
    a second prover that registered the same ghostRoot. A receipt whose signature does not
    recover to its named prover was altered: left to verify(), which says what changed."""
    from ghostproof.adapters.chain.registry import check_signer
    from ghostproof.protocol.errors import ReceiptError
    from ghostproof.protocol.receipt import recover_signer

    try:
        signer = recover_signer(response.digest(), response.signature)
    except ReceiptError:
        return
    if signer.lower() == response.prover.lower():
        check_signer(registered, signer)


def check_answer(response: Response, ghost: GhostFile, trust: Trust) -> VerifiedOutput:
    """Verify ``response`` against ``trust`` (verifier.verify). With a registry entry, the
    signer *recovered* from the receipt must be the model's registered prover
    (ProverMismatchError, exit 1), whatever prover the receipt names."""
    from ghostproof.adapters.chain.registry import check_signer

    if trust.registered is not None:
        _check_intact_receipt_signer(trust.registered, response)
    result = verify(response, ghost, trust.ghost_root, trust.expected)
    if trust.registered is not None:
        check_signer(trust.registered, result.prover)
    return result
