"""CLI commands for availability attestations (docs/ATTESTATIONS.md):

- ``ghostproof attest MODEL_ID`` — audit the registered model (every chunk, from ``--dir`` or
  a block store) and write a BLS-signed attestation for the current epoch;
- ``ghostproof attest register`` — register the auditor's BLS key (proof of possession);
- ``ghostproof attest deregister`` — withdraw it;
- ``ghostproof attest submit SIG_FILE…`` — aggregate signature files into one transaction.

Each command parses, calls one function of ghostproof.verifier.attest, renders; each failure
is one line and an exit code (1 the audit failed, 2 bad input, 3 the chain failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import chain as cli_chain
from .console import byte_progress, out, print_json
from .options import JsonOpt, StoreChoice, store_options

#: The command ``attest MODEL_ID`` runs (``attest sign MODEL_ID`` spelled out).
DEFAULT_COMMAND = "sign"


class _DefaultToSign(TyperGroup):
    """A group that runs ``sign`` when its first argument is not one of its commands, so
    ``attest 7`` means ``attest sign 7`` while ``attest register`` stays a command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Put ``sign`` in front of arguments that do not start with a command name."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


attest_app = typer.Typer(
    cls=_DefaultToSign,
    help="Availability attestations: `attest MODEL_ID` audits a model and BLS-signs that it is "
    "available; `attest register` registers your BLS key; `attest submit FILES…` records "
    "their aggregate on-chain.",
    no_args_is_help=True,
)


@attest_app.command(DEFAULT_COMMAND)
@store_options()
def sign_cmd(
    model_id: Annotated[int, typer.Argument(help="The registered model id.")],
    store: StoreChoice,
    model_dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Audit this model directory instead of fetching from the store."),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Signature file (default: attestation-MODEL-EPOCH-ADDR.json)."),
    ] = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit model MODEL_ID (every chunk checked, its ghostRoot rebuilt and compared with the
    chain), then sign that it is available for the current epoch. Exit 1, nothing signed, if
    the audit fails."""
    from ghostproof.verifier.attest import attest_model, attest_target, write_signature

    chain, dep = cli_chain._connect_checked(rpc, deployment)
    account = cli_chain.signing_account(chain, keystore, dev)
    target = attest_target(chain, dep, model_id)
    with byte_progress("audit", as_json) as bar:
        attested = attest_model(
            chain, dep, account, target, model_dir=model_dir, open_store=store.open,
            timeout=store.timeout, on_progress=bar.advance, on_ghost=bar.size_for,
        )
    signed = attested.signed
    path = out_path or Path(f"attestation-{model_id}-{signed.epoch}-{account.address[:10]}.json")
    write_signature(path, signed)
    if as_json:
        print_json({"file": str(path), "audit": attested.report.to_json(), **signed.to_json()})
        return
    out.print(f"audited model {model_id}: ghostRoot 0x{signed.ghost_root.hex()} rebuilt from "
              f"every chunk ({attested.report.seconds:.2f} s)", soft_wrap=True)
    out.print(f"signed for epoch {signed.epoch} by {signed.auditor} → {path}", soft_wrap=True)


@attest_app.command("register")
def register_cmd(
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register your BLS key (derived from the signing account) as an auditor, with its proof
    of possession."""
    from ghostproof.protocol.bls import g1_to_json, pubkey_hash
    from ghostproof.verifier.attest import register_key

    chain, dep = cli_chain._connect_checked(rpc, deployment)
    account = cli_chain.signing_account(chain, keystore, dev)
    key, gas = register_key(chain, dep, account)
    result = {"auditor": account.address, "pubkeyHash": "0x" + pubkey_hash(key).hex(),
              "pubkeyG1": g1_to_json(key), "gasUsed": gas}
    if as_json:
        print_json(result)
        return
    out.print(f"registered auditor {account.address}: BLS key {result['pubkeyHash']} "
              f"({gas:,} gas)", soft_wrap=True)


@attest_app.command("deregister")
def deregister_cmd(
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
) -> None:
    """Withdraw your BLS key: later attestations no longer count you (nor need you)."""
    from ghostproof.adapters.chain.attestations import deregister_auditor

    chain, dep = cli_chain._connect_checked(rpc, deployment)
    account = cli_chain.signing_account(chain, keystore, dev)
    deregister_auditor(chain, dep, account)
    out.print(f"auditor {account.address} deregistered", soft_wrap=True)


@attest_app.command("submit")
def submit_cmd(
    files: Annotated[list[Path], typer.Argument(help="Signature files written by `attest MODEL_ID`.")],
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Aggregate the signatures into one and record, in one transaction, how many registered
    auditors attested the model this epoch (anyone may submit)."""
    from ghostproof.verifier.attest import submit

    chain, dep = cli_chain._connect_checked(rpc, deployment)
    account = cli_chain.signing_account(chain, keystore, dev)
    result = submit(chain, dep, account, files)
    if as_json:
        print_json(result.to_json())
        return
    out.print(f"recorded: {result.signers} of {result.auditors} auditors attested model "
              f"{result.model_id} in epoch {result.epoch} ({result.gas_used:,} gas)", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``attest`` sub-app to the top-level ``app``."""
    app.add_typer(attest_app, name="attest")
