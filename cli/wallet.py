"""CLI commands of the client wallet: ``wallet new | import | address | balance``, ``credits
buy | deposit | withdraw | status``, ``query`` and ``train``. Each parses, calls one function of
ghostproof.verifier.wallet and renders; docs/WALLET.md lists the commands and JSON fields.

Keys: a command that signs uses the wallet's keystore (``--home``, default
``$GHOSTPROOF_HOME`` or ~/.ghostproof), or ``--keystore`` / ``--dev-account`` like every
chain command (cli/chain.py's one resolver); the password comes from
``$GHOSTPROOF_KEYSTORE_PASSWORD`` or a hidden prompt. A private key is read only from a
hidden prompt or stdin (``wallet import``), never from the command line, and never printed.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import chain as cli_chain
from .console import out, print_json
from .options import JsonOpt

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain
    from ghostproof.verifier.wallet.home import WalletHome

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="The wallet folder (default: $GHOSTPROOF_HOME, else ~/.ghostproof).",
                 show_default=False),
]
ProverOpt = Annotated[str, typer.Option("--prover", help="The prover's address (the channel's payee).")]


def _home(home: Path | None) -> WalletHome:
    from ghostproof.verifier.wallet.home import WalletHome

    return WalletHome.at(home)


def _new_password() -> str:
    from ghostproof.adapters.chain.accounts import PASSWORD_ENV

    secret = os.environ.get(PASSWORD_ENV)
    if secret is not None:
        return secret
    return str(typer.prompt("new wallet password", hide_input=True, confirmation_prompt=True, err=True))


def _private_key() -> str:
    """The key to import: a hidden prompt on a terminal, else the first line of stdin."""
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.readline()
    return str(typer.prompt("private key (hex)", hide_input=True, err=True))


def _account(chain: Chain | int, home: WalletHome, keystore: Path | None, dev: int | None) -> LocalAccount:
    """The signing account: --keystore, --dev-account, else the wallet's own keystore."""
    from ghostproof.protocol.errors import AccountError

    if keystore is None and dev is None:
        if not home.keystore.exists():
            raise AccountError(f"no wallet at {home.root}: run `ghostproof wallet new` (or pass --keystore)")
        keystore = home.keystore
    return cli_chain.signing_account(chain, keystore, dev)


def _signer(
    home: Path | None, rpc: str | None, deployment: Path | None, keystore: Path | None, dev: int | None
) -> tuple[Chain, Deployment, LocalAccount]:
    """The checked chain, its deployment, and the signing account (:func:`_account`)."""
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    return chain, dep, _account(chain, _home(home), keystore, dev)


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _show_address(home: WalletHome, address: str, verb: str, as_json: bool) -> None:
    if as_json:
        print_json({"address": address, "home": str(home.root), "keystore": str(home.keystore)})
        return
    out.print(f"{verb} {address} (keystore {home.keystore})" if verb else address)


# ---------------------------------------------------------------- wallet


def wallet_new_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Create a wallet: a fresh key in an encrypted keystore (0600) in the wallet folder."""
    from ghostproof.verifier.wallet.home import create_keystore

    where = _home(home)
    _show_address(where, create_keystore(where, _new_password()), "new wallet", as_json)


def wallet_import_cmd(ctx: typer.Context, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Import a private key (from a hidden prompt, or stdin) into an encrypted keystore."""
    from ghostproof.protocol.errors import AccountError
    from ghostproof.verifier.wallet.home import import_keystore, parse_private_key

    if ctx.args:  # never echo them: a key typed on the command line must not be printed
        raise AccountError("wallet import takes no key on the command line (it would stay in the "
                           "shell history): it reads it from a hidden prompt or stdin")
    where = _home(home)
    account = parse_private_key(_private_key())  # checked before a password is asked for
    address = import_keystore(where, account.key.hex(), _new_password())
    _show_address(where, address, "imported", as_json)


def wallet_address_cmd(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Print the wallet's address (no password needed)."""
    from ghostproof.verifier.wallet.home import read_address

    where = _home(home)
    _show_address(where, read_address(where), "", as_json)


def wallet_balance_cmd(
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the ETH and credits the wallet's address holds."""
    from ghostproof.verifier.wallet.credits import balance
    from ghostproof.verifier.wallet.home import read_address

    address = read_address(_home(home))
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    held = balance(chain, dep, address)
    if as_json:
        print_json(held.to_json())
        return
    out.print(f"{address} on chain {held.chain_id}: {cli_chain._whole(held.wei)} ETH, "
              f"{cli_chain._whole(held.credits)} credits")


# ---------------------------------------------------------------- credits


def credits_buy_cmd(
    amount: Annotated[str, typer.Argument(help="Credits to buy (decimals allowed).")],
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Buy credits for ETH from GhostCredit at the deployment's rate."""
    from ghostproof.verifier.wallet.credits import buy

    units = cli_chain._credits(amount, "AMOUNT")
    result = buy(*_signer(home, rpc, deployment, keystore, dev), units)
    if as_json:
        print_json(result)
        return
    out.print(f"{result['account']} bought {cli_chain._whole(int(str(result['credits'])))} credits "
              f"for {cli_chain._whole(int(str(result['wei'])))} ETH")


def credits_deposit_cmd(
    amount: Annotated[str, typer.Argument(help="Credits to deposit (decimals allowed).")],
    prover: ProverOpt,
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deposit credits into the escrow channel to a prover: one transaction (permit)."""
    from ghostproof.verifier.wallet.credits import deposit, prover_address

    units = cli_chain._credits(amount, "AMOUNT", 128)
    payee = prover_address(prover)
    made = deposit(*_signer(home, rpc, deployment, keystore, dev), payee, units)
    if as_json:
        print_json(made.to_json())
        return
    out.print(f"deposited {cli_chain._whole(made.amount)} credits for {payee}: the channel holds "
              f"{cli_chain._whole(made.deposited)} (epoch {made.epoch}; {made.gas_used:,} gas)")
    if made.cancelled_withdrawal:
        out.print("the pending withdrawal was cancelled: `credits withdraw` starts the delay again")


def credits_withdraw_cmd(
    prover: ProverOpt,
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw the unspent rest of a channel: the first call requests it and says when it
    falls due; a call after that completes it."""
    from ghostproof.verifier.wallet.credits import prover_address, withdraw

    payee = prover_address(prover)
    step = withdraw(*_signer(home, rpc, deployment, keystore, dev), payee)
    if as_json:
        print_json(step.to_json())
        return
    if step.action == "withdrawn":
        out.print(f"withdrew {cli_chain._whole(step.amount)} credits from the channel to {payee}; "
                  f"the channel is now in epoch {step.epoch}")
        return
    verb = "requested" if step.action == "requested" else "pending"
    out.print(f"withdrawal {verb}: due at {_when(step.withdrawable_at)} "
              f"({max(0, step.withdrawable_at - step.now)} s from now, chain time); run "
              f"`ghostproof credits withdraw --prover {payee}` again then")


def credits_status_cmd(
    prover: Annotated[
        str | None, typer.Option("--prover", help="One channel (default: every channel the ledger knows).")
    ] = None,
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the wallet's channels: deposited, redeemed on-chain, signed so far, left, epoch,
    pending withdrawal."""
    from ghostproof.verifier.wallet.credits import channel_status, known_provers, prover_address
    from ghostproof.verifier.wallet.home import read_address
    from ghostproof.verifier.wallet.ledger import Ledger

    where = _home(home)
    address = read_address(where)
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    where.folder(where.root)
    with Ledger(where.ledger) as ledger:
        provers = [prover_address(prover)] if prover is not None else known_provers(dep, ledger, address)
        rows = [channel_status(chain, dep, ledger, address, p) for p in provers]
    if as_json:
        print_json({"address": address, "chainId": dep.chain_id, "escrow": dep.escrow,
                    "channels": [r.to_json() for r in rows]})
        return
    out.print(f"{address} on chain {dep.chain_id} (escrow {dep.escrow})")
    if not rows:
        out.print("no channels yet: `ghostproof credits deposit --prover ADDR AMOUNT`")
    for r in rows:
        pending = f", withdrawal due {_when(r.withdrawable_at)}" if r.withdrawable_at else ""
        blocked = ", [red]not paid any more[/red]" if r.blocked else ""
        out.print(f"  {r.prover} epoch {r.epoch}: deposited {cli_chain._whole(r.deposited)}, "
                  f"redeemed {cli_chain._whole(r.redeemed)}, signed {cli_chain._whole(r.signed)}, "
                  f"left {cli_chain._whole(r.left)}{pending}{blocked}")


# ---------------------------------------------------------------- query


def _query_input(input_path: Path | None, sample: int | None, samples_from: Path | None):
    from ghostproof.adapters.storage.answers import read_input, read_sample

    if (input_path is None) == (sample is None):
        raise typer.BadParameter("give exactly one of --input FILE.npy or --sample N")
    if input_path is not None:
        if samples_from is not None:
            raise typer.BadParameter("--samples-from goes with --sample")
        return read_input(input_path)
    if samples_from is None:
        raise typer.BadParameter("--sample N needs --samples-from DIR (a model directory with samples.npy)")
    return read_sample(samples_from, int(sample or 0))


def query_cmd(
    node: Annotated[str, typer.Option("--node", help="The prover node's URL, http://host:port.")],
    model_id: Annotated[int, typer.Option("--model-id", help="The registered model id.")],
    input_path: Annotated[Path | None, typer.Option("--input", help="A .npy query vector.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Held-out sample N (with --samples-from).")
    ] = None,
    samples_from: Annotated[
        Path | None, typer.Option("--samples-from", help="A model directory holding samples.npy.")
    ] = None,
    nonce: Annotated[
        str | None, typer.Option("--nonce", help="Request nonce, 0x + 64 hex (default: random).")
    ] = None,
    binary: Annotated[bool, typer.Option("--binary", help="Ask for the binary wire form.")] = False,
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask a prover node, pay it from the wallet, and accept the answer only if it verifies
    against the model registered on the chain. Exit 1 if it does not (kept as evidence; the
    wallet stops paying that prover)."""
    from ghostproof.adapters.chain.attestations import read_attestation
    from ghostproof.adapters.storage.answers import parse_nonce
    from ghostproof.verifier.wallet import Wallet

    x = _query_input(input_path, sample, samples_from)
    nonce_bytes = parse_nonce(nonce) if nonce is not None else None
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    where = _home(home)
    with Wallet(where, _account(chain, where, keystore, dev)) as wallet, \
            wallet.client(node, chain=chain, deployment=dep, binary=binary) as client:
        answer = client.query(model_id, x, nonce=nonce_bytes)
    attested = read_attestation(chain, dep, model_id) if dep.attestations else None
    if as_json:
        print_json({**answer.to_json(), "attestation": attested.to_json() if attested else None})
        return
    for followed in answer.followed:
        out.print(followed.line(), markup=False)
    out.print(f"[green]verified[/green]: top-1 = {answer.top1}, signed by {answer.prover} "
              f"(model {model_id}, root from chain {dep.chain_id}; {answer.verify_ms:.2f} ms)")
    out.print(f"paid {cli_chain._whole(answer.price)} credits (cumulative "
              f"{cli_chain._whole(answer.cumulative)}); kept in {answer.path}")
    out.print("output: " + " ".join(f"{v:.4g}" for v in answer.values))
    if attested is not None:
        out.print(f"availability: {attested.line()}")


MAX_EXAMPLES_FILE_BYTES = 16 << 20


def _read_examples(path: Path) -> list[dict[str, object]]:
    """The example objects of an examples file (``{"examples": [...]}``); InputError."""
    from ghostproof.adapters.fileio import read_capped
    from ghostproof.protocol.errors import InputError
    from ghostproof.protocol.jsonlimits import load_json

    try:
        data = read_capped(path, MAX_EXAMPLES_FILE_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read examples file {path}: {exc.strerror}") from None
    obj = load_json(data, what=f"examples file {path}", max_bytes=MAX_EXAMPLES_FILE_BYTES)
    items = obj.get("examples") if isinstance(obj, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise InputError(f'{path}: an examples file is {{"examples": [{{…}}, …]}} with at least one example')
    return items


def train_cmd(
    node: Annotated[str, typer.Option("--node", help="The prover node's URL, http://host:port.")],
    model_id: Annotated[int, typer.Option("--model-id", help="The registered model id.")],
    examples: Annotated[Path, typer.Option("--examples", help='A JSON file {"examples": [...]}.')],
    home: HomeOpt = None,
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pay a prover node (``serve --train``) to train the model on the examples, and accept
    the new version only once its update proof verifies against the chain. Exit 1 if it does
    not (kept as evidence; the wallet stops paying that prover)."""
    from ghostproof.verifier.wallet import Wallet

    items = _read_examples(examples)
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    where = _home(home)
    with Wallet(where, _account(chain, where, keystore, dev)) as wallet, \
            wallet.client(node, chain=chain, deployment=dep) as client:
        done = client.train(model_id, items)
    if as_json:
        print_json(done.to_json())
        return
    for followed in done.followed:
        out.print(followed.line(), markup=False)
    out.print(f"[green]trained[/green]: model {model_id} is at version {done.version} "
              f"(ghostRoot 0x{done.ghost_root.hex()}; rotation tx {done.transaction or 'unknown'})")
    out.print(f"paid {cli_chain._whole(done.price)} credits (cumulative {cli_chain._whole(done.cumulative)})")


def register(app: typer.Typer) -> None:
    """Add ``wallet``, ``credits``, ``query`` and ``train`` to the top-level ``app``."""
    wallet_app = typer.Typer(help="The client wallet: key, address, balance.", no_args_is_help=True)
    wallet_app.command("new")(wallet_new_cmd)
    wallet_app.command(
        "import", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(wallet_import_cmd)
    wallet_app.command("address")(wallet_address_cmd)
    wallet_app.command("balance")(wallet_balance_cmd)
    app.add_typer(wallet_app, name="wallet")
    credits_app = typer.Typer(help="Credits and escrow channels: buy, deposit, withdraw, status.",
                              no_args_is_help=True)
    credits_app.command("buy")(credits_buy_cmd)
    credits_app.command("deposit")(credits_deposit_cmd)
    credits_app.command("withdraw")(credits_withdraw_cmd)
    credits_app.command("status")(credits_status_cmd)
    app.add_typer(credits_app, name="credits")
    app.command("query")(query_cmd)
    app.command("train")(train_cmd)
