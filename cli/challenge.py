"""CLI for selection challenges (DESIGN §6): ``ghostproof challenge ANSWER`` and the watcher
behind ``ghostproof audit --watch DIR``. Each calls ghostproof.verifier.challenge /
ghostproof.verifier.watch and prints one line per finding; failures are one line (exit 2 when
there is nothing to challenge, 3 when the chain or the store fails).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .chain import DeploymentOpt, DevAccountOpt, KeystoreOpt, RpcOpt, _connect_checked, signing_account
from .console import err, out, print_json
from .options import JsonOpt, StoreChoice, store_options

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain
    from ghostproof.adapters.chain.registry import RegisteredModel
    from ghostproof.adapters.storage.store import BlockStore
    from ghostproof.verifier.challenge import ChallengePlan, ModelWeights

ModelDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--model", help="A local model directory with the weights (repeatable); default: "
                 "fetch them from the store by the ghost CID registered on-chain."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check and print what would be sent, and its gas; send nothing.")
]


def _say(text: str) -> None:
    out.print(text, soft_wrap=True, markup=False)


def response_file(path: Path) -> Path:
    """``path`` itself, or the response file inside an answer folder the wallet kept."""
    from ghostproof.verifier.watch import RESPONSE_FILES

    if path.is_dir():
        for name in RESPONSE_FILES:
            if (path / name).is_file():
                return path / name
        raise typer.BadParameter(f"{path} holds no response.json or response.bin")
    return path


class WeightsLoader:
    """Loads a registered model's weights: from a ``--model`` directory with its ghostRoot, else
    from the store by the registered ghost CID (every chunk checked against its CID). Stores
    opened here are closed by :meth:`close`."""

    def __init__(self, dirs: list[Path] | None, store: StoreChoice, chain: Chain | None = None,
                 deployment: Deployment | None = None):
        """``dirs``: local model directories to prefer; ``store``: where to fetch the others;
        ``chain``/``deployment``: where to look up the ghost CID of a superseded version."""
        self._dirs = list(dirs or [])
        self._store = store
        self._chain, self._deployment = chain, deployment
        self._opened: list[BlockStore] = []

    def __call__(self, model: RegisteredModel, root: bytes | None = None) -> ModelWeights:
        """The weights of ``model``'s version with ghostRoot ``root`` (default: the current
        one); a ``--model`` directory with that root, else fetched by the ghost CID the chain
        registered for it (RootMismatchError is raised later if they are not its)."""
        from ghostproof.verifier.challenge import ModelWeights

        root = root if root is not None else model.ghost_root
        for d in self._dirs:
            weights = ModelWeights.from_dir(d)
            if weights.ghost.ghost_root == root:
                return weights
        store = self._store.open()
        self._opened.append(store)
        cid = self._ghost_cid(model, root)
        return ModelWeights.from_store(store, cid, timeout=self._store.timeout)

    def _ghost_cid(self, model: RegisteredModel, root: bytes) -> str:
        if root == model.ghost_root or self._chain is None:
            return model.ghost_cid
        from ghostproof.adapters.chain.registry import ghost_cid_of

        return ghost_cid_of(self._chain, self._deployment, model, root)

    def close(self) -> None:
        """Close every store opened."""
        for store in self._opened:
            store.close()


def _account(chain: Chain, keystore: Path | None, dev: int | None) -> LocalAccount | None:
    if keystore is None and dev is None:
        return None
    return signing_account(chain, keystore, dev)


def _print_plan(plan: ChallengePlan) -> None:
    for s in plan.skips:
        verdict = "WRONG" if s.challengeable(plan.model.margin) else "ok   "
        _say(f"{verdict} layer {s.layer}: best skipped column {s.column} scores {s.score}, "
             f"τ {s.tau} (excess {s.excess}, margin {plan.model.margin})")


@store_options()
def challenge(
    answer: Annotated[Path, typer.Argument(help="A response file, or an answer folder the wallet kept.")],
    model_dirs: ModelDirOpt = None,
    rpc: RpcOpt = None,
    deployment: DeploymentOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    *,
    store: StoreChoice,
    as_json: JsonOpt = False,
) -> None:
    """Challenge a signed answer whose selection skipped a better column: slash its prover.

    Recomputes each layer's exact top-k from the weights, and when a skipped column beats τ
    by more than the model's margin, dry-runs the challenge, then sends it (one transaction;
    half the stake to you, half burned). Exit 2 when the selection stands.
    """
    from ghostproof.adapters.chain.registry import read_model
    from ghostproof.adapters.storage.answers import read_response
    from ghostproof.verifier.challenge import DRY_RUN_SENDER, plan_challenge

    response = read_response(response_file(answer))
    chain, dep = _connect_checked(rpc, deployment)
    account = _account(chain, keystore, dev_account)
    if account is None and not dry_run:
        raise typer.BadParameter("give --keystore or --dev-account to send the challenge (or --dry-run)")
    loader = WeightsLoader(model_dirs, store, chain, dep)
    try:
        model = read_model(chain, dep, response.request.model_id)
        sender = account.address if account else DRY_RUN_SENDER
        plan = plan_challenge(chain, dep, response, loader(model, response.ghost_root), sender)
    finally:
        loader.close()
    _finish(chain, dep, account, plan, dry_run=dry_run, as_json=as_json)


def _finish(chain: Chain, dep: object, account: LocalAccount | None, plan: ChallengePlan, *,
            dry_run: bool, as_json: bool) -> None:
    from ghostproof.protocol.errors import ChallengeError
    from ghostproof.verifier.challenge import send_challenge

    if not as_json:
        _print_plan(plan)
    if plan.evidence is None:
        raise ChallengeError(plan.summary())
    if dry_run:
        if as_json:
            print_json({"wouldSend": plan.evidence.to_json(), "gas": plan.gas, "summary": plan.summary()})
        else:
            _say(f"would send challenge: {plan.summary()}; gas {plan.gas} (dry run: nothing sent)")
        return
    assert account is not None
    slash = send_challenge(chain, dep, account, plan)  # type: ignore[arg-type]
    if as_json:
        print_json(slash.to_json())
        return
    from ghostproof.adapters.chain.deployment import whole_units

    _say(f"slashed model {slash.model_id}: {whole_units(slash.reward)} credits to {slash.challenger}, "
         f"{whole_units(slash.burned)} burned; tx {slash.tx_hash}, gas {slash.gas_used:,}")


def watch_answers(
    folder: Path | None, *, model_dirs: list[Path] | None, rpc: str | None, deployment: Path | None,
    keystore: Path | None, dev_account: int | None, once: bool, interval: float, state: Path | None,
    store: StoreChoice, as_json: bool,
) -> None:
    """``audit --watch``: check the answers under ``folder`` (default: the wallet's) and
    challenge the wrong ones; one line per answer, a summary line at the end."""
    from ghostproof.verifier.wallet.home import WalletHome
    from ghostproof.verifier.watch import STATE_FILE, Watcher, watch

    folder = folder or WalletHome.at().answers
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder of answers")
    chain, dep = _connect_checked(rpc, deployment)
    account = _account(chain, keystore, dev_account)
    if account is None:
        err.print("no --keystore/--dev-account: dry run, wrong selections are reported, not challenged")
    loader = WeightsLoader(model_dirs, store, chain, dep)
    watcher = Watcher(chain, dep, loader, account, state or folder / STATE_FILE)
    try:
        summary = watch(
            watcher, folder, once=once, interval=interval,
            on_verdict=(lambda v: print_json(v.__dict__)) if as_json else (lambda v: _say(v.line())),
        )
    finally:
        watcher.close()
        loader.close()
    if as_json:
        print_json({"summary": summary.counts, "seconds": summary.seconds})
    else:
        _say(summary.line())


def register(app: typer.Typer) -> None:
    """Add ``challenge`` to the top-level ``app``."""
    app.command("challenge")(challenge)
