"""What binds a proven answer to the world, for ``verify`` (the prover's side, the receipt
domain ``prove`` signs under, is ghostproof.prover.anchor).

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
from ghostproof.protocol.errors import InputError
from ghostproof.protocol.ghost import GhostFile
from ghostproof.protocol.hashing import from_hex
from ghostproof.protocol.response import Request, Response
from ghostproof.verifier.verify import Expected, VerifiedOutput, verify


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
    from ghostproof.adapters.storage.answers import read_request, request_from_input

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
    ghost_root: bytes | None = None,
) -> Trust:
    """Trust the chain: model ``model_id``'s ghostRoot and registered prover, the deployment's
    chain id and registry. With ``ghost_root`` (the ghost file's) naming a superseded version
    of the model, that version's root is trusted instead, and the source says so.
    ModelRetiredError if it is retired (unless ``allow_retired``); the adapter's errors if
    the chain or the deployment file fails."""
    from ghostproof.adapters.chain import read_registered_model
    from ghostproof.adapters.chain.anchor import registered_version
    from ghostproof.adapters.chain.deployment import load_deployment
    from ghostproof.adapters.chain.registry import check_active

    registered = read_registered_model(rpc, deployment_file, model_id)
    check_active(registered, allow_retired=allow_retired)
    root, where = registered.ghost_root, f"model {model_id}"
    if ghost_root is not None and ghost_root != registered.ghost_root:
        version = registered_version(rpc, deployment_file, registered, ghost_root)
        if version is not None:
            root = ghost_root
            where = f"model {model_id} version {version}, superseded by version {registered.version}"
    dep = load_deployment(deployment_file)
    expected = Expected(
        model_id=model_id,
        chain_id=dep.chain_id,
        verifying_contract=dep.registry,
        prover=registered.prover,
        request=request,
    )
    return Trust(root, f"chain {dep.chain_id} ({where})", expected, registered)


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
                       allow_retired=allow_retired, ghost_root=ghost.ghost_root)


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
