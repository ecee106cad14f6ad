"""CLI commands for the chain: ``deploy``, ``chain up``, ``chain faucet``, ``model commit``,
``model onchain``. Each failure is one of ghostproof.adapters.chain.errors, printed as one line by
the top-level main.
"""

from __future__ import annotations

import json
import os
import signal
from decimal import MAX_EMAX, MIN_EMIN, Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from eth_account.signers.local import LocalAccount

from .options import JsonOpt

if TYPE_CHECKING:
    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain
    from ghostproof.adapters.chain.registry import RegisteredModel

DEFAULT_RPC = "http://127.0.0.1:8545"
RPC_ENV = "GHOSTPROOF_RPC"

RpcOpt = Annotated[
    str | None,
    typer.Option("--rpc", help=f"JSON-RPC URL (default: ${RPC_ENV} or {DEFAULT_RPC}).", show_default=False),
]
DeploymentOpt = Annotated[
    Path | None,
    typer.Option(
        "--deployment",
        help="Deployment file (default: ./deployment.json, else ~/.ghostproof/deployment.json).",
    ),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help="Encrypted keystore of the signing account; password from "
        "$GHOSTPROOF_KEYSTORE_PASSWORD or a prompt.",
    ),
]
DevAccountOpt = Annotated[
    int | None,
    typer.Option("--dev-account", help="Anvil dev account N (local chain 31337 only)."),
]


def _credits(text: str, what: str, bits: int = 256) -> int:
    """Parse a credit amount in whole credits (decimals allowed) into base units that fit
    the contract's uint``bits`` field."""
    from ghostproof.adapters.chain.deployment import ONE_CREDIT

    try:
        number = Decimal(text)  # exact: no rounding on construction
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{what} must be a number of credits, got {text!r}") from exc
    if not number.is_finite() or number < 0:
        raise typer.BadParameter(f"{what} must be a non-negative number of credits")
    with localcontext() as ctx:  # enough digits that scaling to base units is exact
        ctx.prec = len(number.as_tuple().digits) + 20
        ctx.Emax, ctx.Emin = MAX_EMAX, MIN_EMIN
        value = number * ONE_CREDIT
    if value != value.to_integral_value():
        raise typer.BadParameter(f"{what} must be non-negative with at most 18 decimals")
    if value >= 1 << bits:
        raise typer.BadParameter(f"{what} is too large (at most {((1 << bits) - 1) / ONE_CREDIT:.4g})")
    return int(value)


def _whole(units: int) -> str:
    """Base units (credits or wei, both 18 decimals) as a decimal number of whole ones."""
    from ghostproof.adapters.chain.deployment import whole_units

    return whole_units(units)


def _rpc_url(rpc: str | None) -> str:
    return rpc or os.environ.get(RPC_ENV) or DEFAULT_RPC


def signing_account(
    chain: Chain | int, keystore: Path | None, dev: int | None, key_file: Path | None = None
) -> LocalAccount:
    """The signing account of every command that signs (deploy, model commit, prove, chain
    buy): --keystore, else --dev-account, else ``key_file`` (see accounts.resolve_account);
    the keystore password comes from $GHOSTPROOF_KEYSTORE_PASSWORD or a hidden prompt."""
    from ghostproof.adapters.chain.accounts import resolve_account

    def prompt(path: Path) -> str:
        return str(typer.prompt(f"password for {path}", hide_input=True, err=True))

    return resolve_account(chain, keystore=keystore, dev=dev, key_file=key_file, password=prompt)


def _connect_checked(rpc: str | None, deployment_file: Path | None) -> tuple[Chain, Deployment]:
    from ghostproof.adapters.chain.deployment import check_deployment, load_deployment
    from ghostproof.adapters.chain.provider import connect

    deployment = load_deployment(deployment_file)
    chain = connect(rpc or deployment.rpc or _rpc_url(None))
    check_deployment(chain, deployment)
    return chain, deployment


def _write_json_atomic(path: Path, obj: object) -> None:
    from ghostproof.adapters.fileio import atomic_write

    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def deploy_cmd(
    rpc: RpcOpt = None,
    deployment: Annotated[
        Path, typer.Option("--deployment", help="Where to write the deployment file.")
    ] = Path("deployment.json"),
    keystore: KeystoreOpt = None,
    dev: DevAccountOpt = None,
    min_stake: Annotated[str, typer.Option(help="Smallest stake, in credits.")] = "100",
    as_json: JsonOpt = False,
) -> None:
    """Deploy GhostCredit, GhostRegistry and CreditEscrow; write the deployment file."""
    from ghostproof.adapters.chain.deployment import DeployParams, deploy_all, save_deployment
    from ghostproof.adapters.chain.provider import connect

    from .console import out, print_json

    chain = connect(_rpc_url(rpc))
    account = signing_account(chain, keystore, dev)
    params = DeployParams(min_stake=_credits(min_stake, "--min-stake", 96))
    dep, gas = deploy_all(chain, account, params)
    save_deployment(deployment, dep)
    if as_json:
        print_json({"deployment": dep.to_json(), "gas": gas, "file": str(deployment)})
        return
    out.print(f"deployed on chain {dep.chain_id} at block {dep.block} → {deployment}")
    for name, address in dep.to_json()["contracts"].items():
        out.print(f"  {name:14} {address}  ({gas[f'deploy {name}']:,} gas)")


def chain_up_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8545,
    deployment: Annotated[
        Path, typer.Option("--deployment", help="Where to write the deployment file.")
    ] = Path("deployment.json"),
    deploy: Annotated[bool, typer.Option(help="Deploy the contracts (dev account 0).")] = True,
) -> None:
    """Run a local Anvil node (chain 31337) until Ctrl-C, with the contracts deployed."""
    from ghostproof.adapters.chain.accounts import dev_account
    from ghostproof.adapters.chain.anvil import Anvil
    from ghostproof.adapters.chain.deployment import deploy_all, save_deployment
    from ghostproof.adapters.chain.provider import connect

    from .console import out

    with Anvil(port=port) as anvil:
        out.print(f"Anvil running at {anvil.url} (chain 31337, pid {anvil.pid})")
        if deploy:
            chain = connect(anvil.url)
            dep, _ = deploy_all(chain, dev_account(chain, 0))
            save_deployment(deployment, dep)
            out.print(f"contracts deployed → {deployment}; the deployer (dev account 0) owns "
                      "the credit faucet: `ghostproof chain faucet ADDRESS`")
        out.print("Ctrl-C stops the node (its state is lost)")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            anvil.wait()
        except KeyboardInterrupt:
            out.print("stopping Anvil")


def chain_faucet_cmd(
    address: Annotated[str, typer.Argument(help="Account to fund.")],
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    eth: Annotated[str, typer.Option(help="ETH to send.")] = "1",
    credits: Annotated[str, typer.Option(help="Credits to mint.")] = "1000",
) -> None:
    """Give ``address`` ETH and credits from dev account 0 (local chain 31337 only)."""
    from eth_utils import is_hex_address, to_checksum_address

    from ghostproof.adapters.chain.accounts import dev_account
    from ghostproof.adapters.chain.registry import mint_credits

    from .console import out

    if not is_hex_address(address):
        raise typer.BadParameter(f"{address!r} is not an address")
    chain, dep = _connect_checked(rpc, deployment)
    owner = dev_account(chain, 0)
    to = to_checksum_address(address)
    wei = _credits(eth, "--eth")  # same 18 decimals
    if wei:
        from ghostproof.adapters.chain.tx import send_eth

        send_eth(chain, owner, to, wei)
    amount = _credits(credits, "--credits")
    if amount:
        mint_credits(chain, dep, owner, to, amount)
    out.print(f"funded {to} with {eth} ETH and {credits} credits")


def chain_buy_cmd(
    credits: Annotated[str, typer.Option(help="Credits to buy.")] = "100",
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    keystore: KeystoreOpt = None,
    dev: DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Buy credits for ETH from GhostCredit at the deployment's rate (any chain): the stake
    `model commit` needs, or credits to pay for queries."""
    from ghostproof.adapters.chain.registry import buy_credits

    from .console import out, print_json

    units = _credits(credits, "--credits")
    chain, dep = _connect_checked(rpc, deployment)
    account = signing_account(chain, keystore, dev)
    minted, wei = buy_credits(chain, dep, account, units)
    if as_json:
        print_json({"account": account.address, "credits": str(minted), "wei": str(wei)})
        return
    out.print(f"{account.address} bought {_whole(minted)} credits for {_whole(wei)} ETH")


def model_commit_cmd(
    model_dir: Annotated[Path, typer.Argument(help="Model directory (with ghost.json).")],
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    keystore: KeystoreOpt = None,
    dev: DevAccountOpt = None,
    price: Annotated[str, typer.Option(help="Price per query, in credits.")] = "0.01",
    margin: Annotated[int | None, typer.Option(
        help="Selection margin (integer score units). Default: calibrated on the model's own "
             "search (docs/SAFETY.md).")] = None,
    stake: Annotated[str | None, typer.Option(help="Stake in credits (default: minimum).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the model in DIR on-chain; print its id and ghostRoot; write DIR/anchor.json.

    The signer is --keystore, --dev-account, or DIR/prover.key (local chains).
    """
    from ghostproof.adapters.chain.anchor import check_ghost_root
    from ghostproof.adapters.chain.registry import read_model, register_model
    from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost_bytes

    from .console import out, print_json

    ghost_bytes, ghost = read_ghost_bytes(model_dir / GHOST_FILE)
    if margin is None:
        from ghostproof.prover.margin import margin_for_model_dir

        margin = margin_for_model_dir(model_dir).margin
    if not 0 <= margin < 1 << 32:
        raise typer.BadParameter("--margin must fit a uint32")
    chain, dep = _connect_checked(rpc, deployment)
    key_file = model_dir / "prover.key" if chain.is_local else None
    account = signing_account(chain, keystore, dev, key_file)
    stake_units = (
        _credits(stake, "--stake", 96) if stake is not None else int(dep.params["minStake"])
    )
    reg = register_model(
        chain, dep, account, ghost_bytes, ghost,
        price=_credits(price, "--price", 96), margin=margin, stake=stake_units,
    )
    registered = read_model(chain, dep, reg.model_id)
    check_ghost_root(registered, ghost)
    anchor = {
        "chainId": dep.chain_id,
        "rpc": chain.rpc_url,
        "registry": dep.registry,
        "modelId": reg.model_id,
        "block": reg.block,
        **{k: v for k, v in registered.to_json().items() if k != "modelId"},
    }
    _write_json_atomic(model_dir / "anchor.json", anchor)
    if as_json:
        print_json({**anchor, "gas": {"approve": reg.gas_approve, "register": reg.gas_register}})
        return
    out.print(f"model id {reg.model_id}")
    out.print(f"ghostRoot 0x{reg.ghost_root.hex()}")
    out.print(f"selection margin {margin}")
    out.print(f"ghost file {reg.ghost_cid}; registered on chain {dep.chain_id} at block "
              f"{reg.block} ({reg.gas_register:,} gas) → {model_dir / 'anchor.json'}")


def model_onchain_cmd(
    model_id: Annotated[int, typer.Argument(help="Registered model id.")],
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    ghost_path: Annotated[
        Path | None, typer.Option("--ghost", help="Check this ghost file against the chain.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a registered model; with --ghost, fail unless the file's ghostRoot matches."""
    from ghostproof.adapters.chain.anchor import check_ghost_root, read_registered_model
    from ghostproof.adapters.chain.attestations import read_attestation_at

    from .console import out, print_json

    registered = read_registered_model(rpc, deployment, model_id)
    if ghost_path is not None:
        from ghostproof.protocol.ghost import parse_ghost

        check_ghost_root(registered, parse_ghost(ghost_path.read_bytes()))
    attested = read_attestation_at(rpc, deployment, model_id)
    if as_json:
        print_json(registered_json(registered, attested))
        return
    print_registered(registered, attested)
    if ghost_path is not None:
        out.print(f"[green]{ghost_path} matches the anchored ghostRoot[/green]")


def registered_json(registered: RegisteredModel, attested: object | None) -> dict[str, object]:
    """A registered model and its attestation record as JSON (``model onchain``/``info --json``)."""
    return {**registered.to_json(), "attestation": attested.to_json() if attested else None}  # type: ignore[attr-defined]


def print_registered(registered: RegisteredModel, attested: object | None) -> None:
    """A registered model, one field a line, and its attestation record."""
    from .console import out

    for key, value in registered.to_json().items():
        out.print(f"{key:16} {value}")
    if attested is not None:
        out.print(f"{'attested':16} {attested.line()}")  # type: ignore[attr-defined]


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add the chain commands to the top-level ``app`` and the ``model`` sub-app."""
    app.command("deploy")(deploy_cmd)
    chain_app = typer.Typer(help="Run and fund a local chain; buy credits on any chain.",
                          no_args_is_help=True)
    chain_app.command("up")(chain_up_cmd)
    chain_app.command("faucet")(chain_faucet_cmd)
    chain_app.command("buy")(chain_buy_cmd)
    app.add_typer(chain_app, name="chain")
    model_app.command("commit")(model_commit_cmd)
    model_app.command("onchain")(model_onchain_cmd)
