"""CLI for model versions (DESIGN §10): ``model rotate`` (register what ``model update`` made)
and ``model verify-update`` (check a rotation's update proof against the two anchored roots).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .chain import DeploymentOpt, DevAccountOpt, KeystoreOpt, RpcOpt, _connect_checked, signing_account
from .console import out, print_json
from .options import JsonOpt, StoreChoice, store_options


def _say(text: str) -> None:
    out.print(text, soft_wrap=True, markup=False)


def _model_id(model_dir: Path, given: int | None) -> int:
    from ghostproof.prover.anchor import read_anchor

    if given is not None:
        return given
    anchor = read_anchor(model_dir)
    if "modelId" not in anchor:
        raise typer.BadParameter(f"{model_dir} is not anchored (no anchor.json): give --model-id")
    return int(anchor["modelId"])  # type: ignore[arg-type]


@store_options()
def model_rotate(
    model_dir: Annotated[Path, typer.Argument(
        help="A model directory `model update` moved past its registered version.")],
    model_id: Annotated[int | None, typer.Option(
        "--model-id", help="Registered model id (default: DIR/anchor.json's).")] = None,
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    keystore: KeystoreOpt = None,
    dev: DevAccountOpt = None,
    *,
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Register the directory's new versions on-chain, one rotateRoot per update, in order.

    Checks every archived update proof first (DIR/versions/), publishes the changed chunks,
    each ghost file and each proof to the store, then rotates; clients follow a version only
    after `model verify-update` (or the wallet) checks its proof.
    """
    from ghostproof.adapters.chain.registry import read_model
    from ghostproof.prover.rotate import rotate_model

    from .chain import _write_json_atomic

    mid = _model_id(model_dir, model_id)
    chain, dep = _connect_checked(rpc, deployment)
    key_file = model_dir / "prover.key" if chain.is_local else None
    account = signing_account(chain, keystore, dev, key_file)
    with store.open() as opened:
        report = rotate_model(model_dir, chain, dep, account, mid, opened)
    registered = read_model(chain, dep, mid)
    anchor_path = model_dir / "anchor.json"
    if anchor_path.is_file():
        from ghostproof.prover.anchor import read_anchor

        fields = {k: v for k, v in registered.to_json().items() if k != "modelId"}
        _write_json_atomic(anchor_path, {**read_anchor(model_dir), **fields})
    if as_json:
        print_json({"rotations": [r.to_json() for r in report.rotations],
                    "publish": report.publish.to_json()})
        return
    _say(f"published {report.publish.chunks_stored} changed chunks of {report.publish.chunks} "
         f"({report.publish.bytes_stored:,} bytes) to {report.publish.store}")
    for r in report.rotations:
        _say(f"version {r.version}: ghostRoot 0x{r.new_root.hex()}, update proof {r.update_proof_cid} "
             f"({r.gas_used:,} gas)")


@store_options()
def model_verify_update(
    model_id: Annotated[int, typer.Argument(help="Registered model id.")],
    version: Annotated[int | None, typer.Option(
        "--version", min=1, help="The version to check (default: every version).")] = None,
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    *,
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Check a rotation: fetch the update proof and both ghost files by their registered CIDs
    and replay the training step against the two anchored roots. Exit 1 if it does not hold."""
    from ghostproof.verifier.versions import rotation_of, verify_rotation, verify_versions

    chain, dep = _connect_checked(rpc, deployment)
    with store.open() as opened:
        def fetch(cid: str, what: str) -> bytes:
            return opened.get(cid, timeout=store.timeout, what=what)

        if version is not None:
            rotation = rotation_of(chain, dep, model_id, version)
            done = [verify_rotation(chain, dep, model_id, rotation, fetch)]
        else:
            done = verify_versions(chain, dep, model_id, 0, fetch)
    if as_json:
        print_json([{**v.rotation.to_json(), "positions": len(v.result.positions),
                     "examples": v.result.examples} for v in done])
        return
    if not done:
        _say(f"model {model_id} has not been rotated: version 0 is the registration")
    for v in done:
        _say(v.line())


def register(model_app: typer.Typer) -> None:
    """Add ``model rotate`` and ``model verify-update`` to the ``model`` sub-app."""
    model_app.command("rotate")(model_rotate)
    model_app.command("verify-update")(model_verify_update)
