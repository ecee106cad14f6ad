"""The ``ghostproof`` command line: build, inspect, prove, verify, demo (and the chain/IPFS
commands registered from cli_chain and cli_ipfs).

Every failure is one line on stderr and an exit code: 1 a check failed (the answer or the
weights are wrong), 2 bad input (unreadable, malformed, out of range), 3 something outside
failed (chain, IPFS, network).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

from ghostproof.protocol.errors import GhostproofError, exit_code
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.layer import output_values, top1

from . import attest as cli_attest
from . import chain as cli_chain
from . import challenge as cli_challenge
from . import ipfs as cli_ipfs
from . import node as cli_node
from . import update as cli_update
from . import versions as cli_versions
from . import wallet as cli_wallet
from .console import err, out, print_json, progress
from .extras import needs_extra
from .options import JsonOpt

if TYPE_CHECKING:
    from ghostproof.protocol.response import Response
    from ghostproof.verifier.trust import Trust

app = typer.Typer(
    help="Verifiable inference for Hopfield lookup models, anchored on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(help="Build, inspect and commit models.", no_args_is_help=True)
app.add_typer(model_app, name="model")


def _progress_fn(bar, quiet: bool):
    tasks: dict[str, int] = {}

    def on_progress(description: str, done: int, total: int) -> None:
        if quiet:
            return
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total)
        bar.update(tasks[description], completed=done, total=total)

    return on_progress


@model_app.command("build")
@needs_extra("model build")
def model_build(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Directory to write the model to.")],
    preset: Annotated[str, typer.Option(help="digits | synthetic")] = "digits",
    n: Annotated[int, typer.Option(help="Synthetic: patterns per layer.")] = 10_000,
    d: Annotated[int, typer.Option(help="Synthetic: dimension.")] = 256,
    layers: Annotated[int, typer.Option(help="Synthetic: number of layers.")] = 1,
    k: Annotated[int | None, typer.Option(help="Columns each query touches.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    kind: Annotated[str, typer.Option(help="Synthetic: structured | clustered | uniform.")] = "structured",
    order: Annotated[str, typer.Option(
        "--order", help="Column order committed: locality (default), cluster (k-means groups, for "
        "clustered data: docs/ORDER.md) or none.")] = "locality",
    no_order: Annotated[bool, typer.Option("--no-order", help="Same as --order none.")] = False,
    ef: Annotated[int, typer.Option(min=1, help="HNSW search breadth (raise for recall at large N).")] = 128,
    m: Annotated[int, typer.Option("--hnsw-m", min=2, help="HNSW graph degree M.")] = 16,
    dims: Annotated[str | None, typer.Option(
        "--dims", help="Index a projection of the key columns: auto (≥ 99.5 % of their "
        "energy) or R dimensions; none (default): plain HNSW.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a model, commit it (Merkle trees, ghost file) and index it into a directory."""
    from ghostproof.prover.modeldir import write_model_dir
    from ghostproof.prover.presets import DIGITS_K, digits_model, synthetic_model

    if preset == "digits":
        float_model = digits_model(k=DIGITS_K if k is None else k, seed=seed)
    elif preset == "synthetic":
        float_model = synthetic_model(n, d, layers=layers, k=32 if k is None else k, seed=seed, kind=kind)
    else:
        raise typer.BadParameter(f"unknown preset {preset!r} (digits | synthetic)")
    started = time.perf_counter()
    with progress(quiet=as_json) as bar:
        md = write_model_dir(
            out_dir,
            float_model,
            order="none" if no_order else order,
            on_progress=_progress_fn(bar, as_json),
            index_params={"ef": ef, "M": m, "dims": _parse_dims(dims)},
        )
    _print_info(md.path, md.ghost, as_json, extra={"seconds": round(time.perf_counter() - started, 2)})


def _parse_dims(dims: str | None) -> int | str | None:
    """``--dims`` as prover/projection.py's parse_dims reads it (a usage error otherwise)."""
    from ghostproof.protocol.errors import InputError
    from ghostproof.prover.projection import parse_dims

    try:
        return parse_dims(dims)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _print_info(path: Path, ghost, as_json: bool, extra: dict | None = None) -> None:
    from ghostproof.protocol.chunks import cid_for_bytes

    info = {
        "path": str(path),
        "name": ghost.header.name,
        "ghostRoot": to_hex(ghost.ghost_root),
        "headerHash": to_hex(ghost.header_hash),
        "layersRoot": to_hex(ghost.layers_root),
        "ghostCid": cid_for_bytes(ghost.to_bytes()),
        "chunks": len(ghost.header.chunks),
        "layers": [
            {**spec.to_json(), "rootK": to_hex(rk), "rootV": to_hex(rv)}
            for spec, (rk, rv) in zip(ghost.header.layers, ghost.roots, strict=True)
        ],
        **(extra or {}),
    }
    if as_json:
        print_json(info)
        return
    from rich.table import Table

    out.print(f"[bold]{info['name']}[/bold]  {path}")
    out.print(f"ghostRoot  {info['ghostRoot']}")
    out.print(f"ghost CID  {info['ghostCid']}  ({info['chunks']} weight chunks)")
    table = Table("layer", "d_in", "d_out", "N", "k", "beta", "s_K", "s_V", "root K", "root V")
    for i, layer in enumerate(info["layers"]):
        table.add_row(
            str(i), str(layer["dIn"]), str(layer["dOut"]), str(layer["n"]), str(layer["k"]),
            f"{layer['beta']:g}", f"{layer['sK']:.4g}", f"{layer['sV']:.4g}",
            layer["rootK"][:12] + "…", layer["rootV"][:12] + "…",
        )
    out.print(table)


@model_app.command("info")
def model_info(
    directory: Annotated[Path, typer.Argument(help="A model directory (or its ghost.json).")],
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    model_id: Annotated[int | None, typer.Option(
        "--model-id", help="With --rpc: the registered model (default: DIR/anchor.json's).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a model's ghostRoot and architecture; with --rpc (or --model-id), also what the
    chain registered for it: prover, price, margin, stake, version, slashed, and how many
    auditors attested it."""
    from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost

    ghost_path = directory / GHOST_FILE if directory.is_dir() else directory
    ghost = read_ghost(ghost_path)
    if rpc is None and model_id is None:
        _print_info(directory, ghost, as_json)
        return
    registered, attested = _registered_for(directory, rpc, deployment, model_id)
    extra = {"registered": cli_chain.registered_json(registered, attested),
             "matchesRegistered": registered.ghost_root == ghost.ghost_root}
    _print_info(directory, ghost, as_json, extra if as_json else None)
    if not as_json:
        cli_chain.print_registered(registered, attested)
        same = "is" if registered.ghost_root == ghost.ghost_root else "is NOT"
        out.print(f"this ghost file {same} the version registered on-chain (version {registered.version})")


def _registered_for(directory: Path, rpc: str | None, deployment: Path | None, model_id: int | None):
    """(registered model, attestation record) of ``model_id``, else DIR/anchor.json's."""
    from ghostproof.adapters.chain.anchor import read_registered_model
    from ghostproof.adapters.chain.attestations import read_attestation_at
    from ghostproof.adapters.fileio import read_capped
    from ghostproof.adapters.storage.layout import ANCHOR_FILE
    from ghostproof.protocol.jsonlimits import load_json

    if model_id is None:  # the light client reads anchor.json itself (no prover code)
        path = directory / ANCHOR_FILE
        limit = 1 << 16
        anchor = (load_json(read_capped(path, limit), what=str(path), max_bytes=limit)
                  if path.is_file() else {})
        if not isinstance(anchor, dict) or not isinstance(anchor.get("modelId"), int):
            raise typer.BadParameter("give --model-id (the directory has no anchor.json naming one)")
        model_id = anchor["modelId"]
    registered = read_registered_model(rpc, deployment, model_id)
    return registered, read_attestation_at(rpc, deployment, model_id)


@model_app.command("index")
@needs_extra("model index")
def model_index(
    directory: Annotated[Path, typer.Argument(help="A model directory (e.g. one `model fetch` wrote).")],
    dims: Annotated[str | None, typer.Option(
        "--dims", help="auto | R: index a projection of the key columns (auto keeps ≥ 99.5 % "
        "of their energy); none: plain HNSW. Default: what model.json records.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the Merkle trees and HNSW indexes of a model directory so it can be served."""
    from ghostproof.prover.modeldir import index_model_dir

    kwargs = {} if dims is None else {"dims": _parse_dims(dims)}
    with progress(quiet=as_json) as bar:
        md = index_model_dir(directory, on_progress=_progress_fn(bar, as_json), **kwargs)
    _print_info(md.path, md.ghost, as_json)


@app.command("prove")
@needs_extra("prove")
def prove_cmd(
    directory: Annotated[Path, typer.Argument(help="The model directory.")],
    out_path: Annotated[Path, typer.Option("-o", "--out", help="Where to write the response.")],
    input_path: Annotated[Path | None, typer.Option("--input", help="A .npy query vector.")] = None,
    sample: Annotated[int | None, typer.Option("--sample", help="Use held-out sample I.")] = None,
    binary: Annotated[bool, typer.Option("--binary", help="Write the compact wire form.")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Exact search instead of HNSW.")] = False,
    model_id: Annotated[
        int | None, typer.Option("--model-id", help="Registry model id (default: DIR/anchor.json's).")
    ] = None,
    nonce: Annotated[
        str | None, typer.Option("--nonce", help="The request nonce, 0x + 64 hex (default: random).")
    ] = None,
    request_out: Annotated[
        Path | None,
        typer.Option("--request-out", help="Also write the request (model id, input, nonce) "
                     "here, for `verify --request`."),
    ] = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    rpc: Annotated[
        str | None, typer.Option("--rpc", help="Take the receipt domain and registered prover "
                                 "from this chain (default: DIR/anchor.json).")
    ] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="Deployment file (with --rpc).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one query with a proof and a receipt signed for the model's chain and registry.

    After ``ghostproof model commit DIR`` the receipt domain (chain id, registry, model id)
    and the registered prover come from DIR/anchor.json (or the chain, with --rpc); before,
    the receipt is for model 0 on no chain. The signer is --keystore, --dev-account, or
    DIR/prover.key; a key that is not the registered prover is refused before any work.
    """
    from ghostproof.adapters.storage.answers import parse_nonce, read_input, write_request, write_response
    from ghostproof.adapters.storage.layout import KEY_FILE
    from ghostproof.prover.anchor import prove_domain
    from ghostproof.prover.modeldir import load_model_dir, make_prover

    if (input_path is None) == (sample is None):
        raise typer.BadParameter("give exactly one of --input FILE.npy or --sample I")
    nonce_bytes = parse_nonce(nonce) if nonce is not None else None
    domain = prove_domain(directory, model_id, rpc, deployment)
    account = cli_chain.signing_account(domain.chain_id, keystore, dev, directory / KEY_FILE)
    domain.check_key(account.address)
    md = load_model_dir(directory)
    x = read_input(input_path) if input_path is not None else md.sample(sample)
    prover = make_prover(
        md,
        exact=exact,
        model_id=domain.model_id,
        chain_id=domain.chain_id,
        verifying_contract=domain.registry,
        private_key=bytes(account.key),
    )
    started = time.perf_counter()
    response = prover.prove(x, nonce_bytes)
    ms = (time.perf_counter() - started) * 1e3
    size = write_response(out_path, response, binary=binary)
    if request_out is not None:
        write_request(request_out, response.request)
    result = {
        "response": str(out_path),
        "request": str(request_out) if request_out is not None else None,
        "nonce": to_hex(response.request.nonce),
        "prover": prover.address,
        "bytes": size,
        "proveMs": round(ms, 2),
        "top1": top1(response.output),
        "output": [int(v) for v in response.output],
        "values": [float(v) for v in output_values(response.output, md.ghost.header.layers[-1].s_v)],
        "selected": [list(lp.selected) for lp in response.layers],
        "thresholds": [lp.tau for lp in response.layers],
    }
    if as_json:
        print_json(result)
    else:
        out.print(f"proved in {ms:.1f} ms → {out_path} ({size} bytes); top-1 = {result['top1']}")
        if request_out is not None:
            out.print(f"request (input, nonce) → {request_out}: `verify --request {request_out}` "
                      "checks that the answer answers it")


@app.command("verify")
def verify_cmd(
    response_path: Annotated[Path, typer.Argument(help="A response file (JSON or binary).")],
    ghost_path: Annotated[Path, typer.Option("--ghost", help="The model's ghost.json.")],
    root: Annotated[str | None, typer.Option("--root", help="The anchored ghostRoot, 0x…")] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", help="Read ghostRoot from this chain.")] = None,
    model_id: Annotated[int | None, typer.Option("--model-id", help="Registered model id.")] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="Deployment file (with --rpc).")
    ] = None,
    request_path: Annotated[
        Path | None, typer.Option("--request", help="The request file you sent (prove --request-out).")
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="The .npy input you sent (with --nonce).")
    ] = None,
    nonce: Annotated[str | None, typer.Option("--nonce", help="The nonce you sent, 0x…")] = None,
    allow_retired: Annotated[
        bool, typer.Option("--allow-retired", help="Accept a retired model (an old answer).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a response; exit 0 and print the output if valid, 1 and the reason if not.

    With --request (or --input and --nonce) the answer must answer that request; without,
    it may answer any question (the output says so). With --rpc the model must be active and
    the receipt signed by its registered prover, for this chain and registry.
    """
    from ghostproof.adapters.storage.answers import read_response
    from ghostproof.adapters.storage.layout import read_ghost
    from ghostproof.verifier.trust import check_answer, sent_request, verify_trust

    response = read_response(response_path)
    ghost = read_ghost(ghost_path)
    sent = sent_request(request_path, input_path, nonce, model_id)
    trust = verify_trust(ghost, sent, root=root, rpc=rpc, model_id=model_id,
                         deployment_file=deployment, allow_retired=allow_retired)
    if not trust.anchored:
        err.print(f"warning: no anchored root given; trusting {ghost_path}")
    started = time.perf_counter()
    result = check_answer(response, ghost, trust)
    ms = (time.perf_counter() - started) * 1e3
    summary = {
        "valid": True,
        "ghostRoot": to_hex(trust.ghost_root),
        "rootSource": trust.source,
        "boundToRequest": trust.bound_to_request,
        "requestHash": to_hex(response.request.hash) if trust.bound_to_request else None,
        "prover": result.prover,
        "top1": result.top1,
        "output": [int(v) for v in result.output],
        "values": [float(v) for v in result.values],
        "thresholds": list(result.thresholds),
        "verifyMs": round(ms, 3),
    }
    if as_json:
        print_json(summary)
    else:
        out.print(f"[green]valid[/green]: top-1 = {result.top1}, signed by {result.prover}, "
                  f"root from {trust.source} ({ms:.2f} ms)")
        out.print(_request_line(trust, response))
        out.print("output: " + " ".join(f"{v:.4g}" for v in result.values))


def _request_line(trust: Trust, response: Response) -> str:
    """The human line saying whether the answer was checked against the client's request."""
    if trust.bound_to_request:
        return f"answers your request {to_hex(response.request.hash)} (input and nonce checked)"
    return ("[yellow]not bound to a request[/yellow]: this answers some question, not "
            "necessarily yours (pass --request FILE, or --input X.npy --nonce 0x…)")


@app.command("demo")
@needs_extra("demo")
def demo_cmd(
    work_dir: Annotated[
        Path | None, typer.Option("--dir", help="Where to put the model, node and wallet (default: temp).")
    ] = None,
    samples: Annotated[
        int, typer.Option(help="How many held-out images to ask the node, pay for and verify.")
    ] = 5,
) -> None:
    """The whole flow on embedded defaults: build, serve, pay, verify, reject a tamper, redeem."""
    from .demo import run_demo

    run_demo(work_dir, samples)


cli_chain.register(app, model_app)
cli_node.register(app)
cli_ipfs.register(app, model_app)
cli_wallet.register(app)
cli_attest.register(app)
cli_challenge.register(app)
cli_versions.register(model_app)
cli_update.register(model_app)


try:  # typer ≥ 0.22 vendors click: its usage errors are not click's own classes
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older typer raises click's exceptions
    _TyperClickException = click.exceptions.ClickException
_USAGE_ERRORS = (click.exceptions.ClickException, _TyperClickException)
_ABORTS = (click.exceptions.Abort, typer.Abort)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="ghostproof", standalone_mode=False)
    except _ABORTS:
        err.print("aborted")
        sys.exit(130)
    except _USAGE_ERRORS as exc:
        err.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        sys.exit(2)
    except GhostproofError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(exit_code(exc))
    except (OSError, ValueError) as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except MemoryError as exc:  # e.g. a model far too large for this machine
        err.print(f"error: out of memory: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
