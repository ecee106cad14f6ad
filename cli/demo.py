"""``ghostproof demo``: the whole flow on embedded defaults, as a new user first sees it.

Steps: build and commit the digits model; deploy the contracts to the embedded chain and
register the model; publish the weights as IPFS blocks, fetch and audit them; start the
prover node (``ghostproof serve``'s app) on 127.0.0.1, in this process, on the same chain; a
new wallet buys credits and deposits them for the prover; it queries the node over HTTP,
paying each answer with a voucher and verifying it; one answer altered in transit is
rejected and kept as evidence, and the wallet stops paying that prover; the node redeems
its vouchers; report dense vs sparse accuracy and a summary. Each step is one function
here; the work is the prover's, the node's and the wallet's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import numpy as np
from rich.table import Table

from ghostproof.protocol.errors import InputError, PaymentError, ProofError
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.layer import layer_forward, quantise_query, reference_layer_forward, top1
from ghostproof.protocol.response import Response
from ghostproof.protocol.response_json import dumps_response, loads_response

from .chain import _whole as credits_text
from .console import out, progress, step_progress

if TYPE_CHECKING:
    from ghostproof.adapters.chain.deployment import Deployment
    from ghostproof.adapters.chain.provider import Chain
    from ghostproof.adapters.chain.registry import RegisteredModel
    from ghostproof.prover.anchor import AnchorResult
    from ghostproof.prover.modeldir import ModelDir
    from ghostproof.prover.node.boot import NodeThread
    from ghostproof.prover.node.service import NodeService
    from ghostproof.prover.prove import Prover
    from ghostproof.verifier.wallet import Client, Wallet

E = TypeVar("E", bound=Exception)

#: The demo wallet's password (a throwaway key in a temporary folder).
DEMO_PASSWORD = "ghostproof demo"


def tamper_key_column(response: Response) -> Response:
    """A copy of ``response`` with one byte of layer 0's first revealed key column changed."""
    layer = response.layers[0]
    cols = layer.key_columns.copy()
    cols[0, 0] = np.int8(cols[0, 0] + 1 if cols[0, 0] < 127 else cols[0, 0] - 1)
    return replace(response, layers=(replace(layer, key_columns=cols), *response.layers[1:]))


class TamperingTransport(httpx.BaseTransport):
    """The wire between a wallet and a node, with someone on it: every answer (a 200 to a
    query, JSON) reaches the wallet with one byte of a revealed weight column changed
    (:func:`tamper_key_column`); everything else passes unchanged."""

    def __init__(self) -> None:
        self._wire = httpx.HTTPTransport()
        self.altered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self._wire.handle_request(request)
        if reply.status_code != 200 or not request.url.path.endswith("/query"):
            return reply
        body = dumps_response(tamper_key_column(loads_response(reply.read()))).encode()
        reply.close()
        self.altered += 1
        headers = [(k, v) for k, v in reply.headers.items()
                   if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
        return httpx.Response(200, headers=headers, content=body)

    def close(self) -> None:
        self._wire.close()


def accuracy(md: ModelDir, prover: Prover) -> tuple[float, float, float]:
    """Held-out accuracy of the dense float64 reference (softmax over all N), of the exact
    sparse path the prover signs (HNSW top-k, integer softmax), and their top-1 agreement,
    on every sample of a one-layer classifier model."""
    from ghostproof.prover.index import select_top_k

    layer = md.model.layers[0]
    spec = layer.spec
    keys = np.asarray(layer.keys)
    values = np.asarray(layer.values)
    dense_hits = sparse_hits = agree = 0
    for x, label in zip(md.samples, md.sample_labels, strict=True):
        q = quantise_query(np.asarray(x, dtype=np.float32))
        dense = top1(reference_layer_forward(q, keys, values, spec.beta, spec.s_k, spec.s_v))
        sel = select_top_k(prover.retrievers[0], q, keys, spec.k, min(spec.n, 4 * spec.k))
        sparse = top1(layer_forward(q, keys[sel], values[sel], spec.logit_scale).output)
        dense_hits += int(dense == label)
        sparse_hits += int(sparse == label)
        agree += int(dense == sparse)
    m = len(md.samples)
    return dense_hits / m, sparse_hits / m, agree / m


@dataclass
class DemoNode:
    """The node the demo runs: its service, its HTTP server thread, and the handle on the
    embedded chain everyone else in the process uses (each request under the node's lock)."""

    service: NodeService
    thread: NodeThread
    chain: Chain
    deployment: Deployment
    model_id: int

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def prover(self) -> str:
        return str(self.service.terms.prover)

    @property
    def price(self) -> int:
        return int(self.service.terms.price)


@dataclass
class Outcome:
    """What the paid steps did, for the summary."""

    verified: int = 0
    rejected: bool = False
    redeemed: int = 0
    learned: str = ""
    before: tuple[float, float, float] = (0.0, 0.0, 0.0)


def run_demo(work_dir: Path | None = None, n_samples: int = 5) -> None:
    """Run the demo end to end in ``work_dir`` (default: a new temporary folder): ``n_samples``
    held-out images are asked of the node, paid and verified (and one more is altered in
    transit); prints each step. InputError unless ``n_samples`` ≥ 1; raises on any
    unexpected failure."""
    if not isinstance(n_samples, int) or n_samples < 1:
        raise InputError(f"the demo needs at least one sample to query, got {n_samples!r}")
    if work_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="ghostproof-demo-"))
    started = time.perf_counter()
    out.rule("[bold]ghostproof demo")
    md = _build(work_dir / "digits")
    anchor, registered = _register(md.path)
    _publish_fetch_audit(work_dir, md.path, registered)
    node = _start_node(md, anchor, _fresh(work_dir, "node"))
    outcome = Outcome(before=accuracy(md, node.service.prover))  # before the node trains in place
    try:
        with _open_wallet(_fresh(work_dir, "wallet"), node, n_samples + 1 + LEARN + 1) as wallet:
            outcome.verified = _query_samples(md, node, wallet, n_samples)
            outcome.learned = _learn(md, node, wallet)
            outcome.rejected = _reject_in_transit(md, node, wallet, n_samples)
            outcome.redeemed = _redeem(node, wallet)
    finally:
        node.thread.stop()
    _summary(md, node, outcome, n_samples)
    out.print(f"demo finished in {time.perf_counter() - started:.1f} s; everything is in {work_dir}")


def _fresh(work_dir: Path, name: str) -> Path:
    """``work_dir/name`` if it does not exist yet, else a new ``work_dir/name-XXXX`` (a wallet
    folder or a node ledger of an earlier run belongs to a chain that is gone)."""
    path = work_dir / name
    if not path.exists():
        path.mkdir(parents=True)
        return path
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))


def _build(model_dir: Path) -> ModelDir:
    """Step 1: build, commit and index the digits model into ``model_dir``."""
    from ghostproof.prover.modeldir import write_model_dir
    from ghostproof.prover.presets import digits_model

    out.print("1. Build the digits model (sklearn's bundled 8×8 digits), quantise, commit, index; "
              "declare its update rule (sgd-v1)")
    started = time.perf_counter()
    from ghostproof.prover.modeldir import load_model_dir
    from ghostproof.prover.update import declare_update_rule

    with progress() as bar:
        md = write_model_dir(model_dir, digits_model(), on_progress=step_progress(bar))
    declare_update_rule(model_dir)  # trainable (sgd-v1 in the header), before it is registered
    md = load_model_dir(model_dir)
    ghost = md.ghost
    spec = ghost.header.layers[0]
    out.print(f"   {model_dir}: N={spec.n} patterns of d={spec.d_in}, k={spec.k}, "
              f"{len(ghost.header.chunks)} IPFS chunks, built in {time.perf_counter() - started:.1f} s")
    out.print(f"   ghostRoot {to_hex(ghost.ghost_root)}")
    return md


def _register(model_dir: Path) -> tuple[AnchorResult, RegisteredModel]:
    """Step 2: deploy the contracts to an embedded chain, register the model, and read it
    back as a verifier would; prints the gas of every step."""
    from ghostproof.adapters.chain import read_registered_model
    from ghostproof.prover.anchor import embedded_anchor

    out.print("2. Deploy GhostCredit, GhostRegistry, CreditEscrow to the embedded EVM; register the model")
    anchor = embedded_anchor(model_dir)
    registered = read_registered_model(
        None, None, anchor.model_id, chain=anchor.chain, deployment=anchor.deployment
    )
    deployment = anchor.deployment
    out.print(f"   chain {deployment.chain_id}: registry {deployment.registry}, model id "
              f"{anchor.model_id}, ghost CID {registered.ghost_cid}")
    out.print(f"   the verifier trusts only the ghostRoot it reads back from the chain: "
              f"{to_hex(registered.ghost_root)}")
    gas = Table("step", "gas")
    for step, used in anchor.gas.items():
        gas.add_row(step, f"{used:,}")
    out.print(gas)
    return anchor, registered


def _publish_fetch_audit(work_dir: Path, model_dir: Path, registered: RegisteredModel) -> None:
    """Step 3: publish the weights to a local block store, fetch them back by the registered
    CID, and audit them against the anchored root."""
    from ghostproof.adapters.storage.store import LocalStore
    from ghostproof.adapters.storage.transfer import fetch, publish
    from ghostproof.verifier.audit import audit_dir

    out.print("3. Publish the weights as IPFS raw blocks (local store), fetch them back by the CID "
              "registered on-chain, and audit every chunk against the anchored root")
    store = LocalStore(work_dir / "blocks")
    published = publish(model_dir, store)
    fetched = fetch(registered.ghost_cid, store, work_dir / "fetched")
    audit = audit_dir(fetched.out_dir, expected_ghost_root=registered.ghost_root)
    out.print(f"   published {published.chunks} chunks + ghost file ({published.bytes_total:,} bytes) "
              f"→ {store.describe()}; fetched into {fetched.out_dir}")
    for line in audit.matrices:
        out.print(f"   audit {line.line()}")
    if not audit.ok:
        raise AssertionError("the audit of freshly published weights failed")  # never expected
    out.print(f"   rebuilt ghostRoot {audit.rebuilt_ghost_root} = anchored root "
              f"(audit {audit.seconds * 1e3:.0f} ms)")


def _start_node(md: ModelDir, anchor: AnchorResult, node_dir: Path) -> DemoNode:
    """Step 4: the prover node (``ghostproof serve``'s app and service) on 127.0.0.1, served by
    uvicorn in a thread of this process so that it shares the embedded chain."""
    from ghostproof.adapters.chain.provider import serialized
    from ghostproof.prover.node.boot import NodeThread, open_node

    out.print("4. Start the prover node (`ghostproof serve --train`) on 127.0.0.1, on the same chain")
    from ghostproof.prover.node.config import NodeConfig

    service = open_node(md.path, anchor.model_id, anchor.chain, anchor.deployment, anchor.prover,
                        NodeConfig(train=True), db_path=node_dir / "node.sqlite")
    thread = NodeThread(service)
    node = DemoNode(service, thread, serialized(anchor.chain, service.view.lock), anchor.deployment,
                    anchor.model_id)
    ready = httpx.get(f"{node.url}/ready", timeout=10).json()
    out.print(f"   node {node.url}: model {node.model_id}, prover {node.prover}, price "
              f"{credits_text(node.price)} credit per answer, paid by x402 vouchers on CreditEscrow")
    out.print(f"   GET /ready → {ready}; vouchers are kept in {node_dir / 'node.sqlite'}")
    return node


def _open_wallet(home: Path, node: DemoNode, queries: int) -> Wallet:
    """Step 5: a new wallet (a fresh key in ``home``) gets ETH, buys enough whole credits for
    ``queries`` answers and deposits them for the node's prover with a permit."""
    from ghostproof.adapters.chain.accounts import fund_from_tester
    from ghostproof.adapters.chain.deployment import ONE_CREDIT
    from ghostproof.verifier.wallet import Wallet
    from ghostproof.verifier.wallet.credits import balance, buy, deposit

    out.print("5. A new wallet buys credits and deposits them in its escrow channel to the prover")
    wallet = Wallet.create(home, DEMO_PASSWORD)
    units = -(-queries * node.price // ONE_CREDIT) * ONE_CREDIT  # whole credits, rounded up
    fund_from_tester(node.chain, wallet.address, 10**18)
    bought = buy(node.chain, node.deployment, wallet.account, units)
    made = deposit(node.chain, node.deployment, wallet.account, node.prover, units)
    held = balance(node.chain, node.deployment, wallet.address)
    table = Table("wallet", "what", "gas")
    table.add_row("funded", "1 ETH from the embedded chain's faucet", "")
    table.add_row("credits buy", f"{_credits(int(str(bought['credits'])))} for "
                  f"{credits_text(int(str(bought['wei'])))} ETH", "")
    table.add_row("credits deposit", f"{_credits(made.amount)} into the channel to the prover (epoch "
                  f"{made.epoch}): one transaction, depositWithPermit", f"{made.gas_used:,}")
    table.add_row("balance", f"{_credits(held.credits)} left outside the channel", "")
    out.print(f"   wallet {wallet.address} in {home}")
    out.print(table)
    return wallet


def _credits(units: int) -> str:
    """Credit base units as "N credit(s)"."""
    text = credits_text(units)
    return f"{text} credit" if text == "1" else f"{text} credits"


def _client(node: DemoNode, wallet: Wallet, transport: httpx.BaseTransport | None = None) -> Client:
    """The wallet's client of the node, reading the chain through the node's lock."""
    return wallet.client(node.url, chain=node.chain, deployment=node.deployment, transport=transport)


def _query_samples(md: ModelDir, node: DemoNode, wallet: Wallet, n_samples: int) -> int:
    """Step 6: ask the node about the first ``n_samples`` held-out images over HTTP, paying
    each with a voucher; the wallet verifies every answer before it accepts it. Returns how
    many were paid and verified."""
    out.print(f"6. Ask the node about {n_samples} held-out images over HTTP: a 402 names the terms, "
              "a voucher pays, the wallet verifies each answer")
    table = Table("sample", "label", "verified top-1", "valid", "voucher (cumulative)",
                  "deposit left", "round trip ms", "verify ms")
    verified = 0
    with _client(node, wallet) as client:
        for i in range(n_samples):
            t0 = time.perf_counter()
            answer = client.query(node.model_id, md.sample(i))
            ms = (time.perf_counter() - t0) * 1e3
            label = int(md.sample_labels[i]) if md.sample_labels is not None else -1
            left = answer.settlement.deposit_left if answer.settlement is not None else 0
            verified += 1
            table.add_row(str(i), str(label), str(answer.top1), "[green]yes[/green]",
                          credits_text(answer.cumulative), credits_text(left), f"{ms:.0f}",
                          f"{answer.verify_ms:.2f}")
    out.print(table)
    out.print(f"   every answer, its request and its voucher are kept in {wallet.home.root / 'answers'}")
    return verified


#: How many held-out images the node is paid to learn (the ones it gets wrong, at most this many).
LEARN = 3


def _wrong_samples(md: ModelDir, prover: Prover) -> list[tuple[int, int, int]]:
    """(sample, label, proven top-1) of the held-out images the proven path gets wrong."""
    wrong = []
    for i, label in enumerate(md.sample_labels if md.sample_labels is not None else []):
        top = top1(prover.prove(md.sample(i)).output)
        if top != int(label):
            wrong.append((i, int(label), top))
    return wrong


def _learn(md: ModelDir, node: DemoNode, wallet: Wallet) -> str:
    """Step 7: the wallet pays the node to learn the held-out images it gets wrong; the node
    trains in place and registers version 1 on-chain; the wallet verifies the update before it
    trusts the new root, then asks again: the answer changed, verified against version 1.
    Returns the summary line."""
    out.print("7. The wallet pays the node to learn the held-out images it gets wrong (sgd-v1, k "
              "columns each); the node registers version 1 on-chain; the wallet verifies the update "
              "proof before it trusts the new root")
    wrong = _wrong_samples(md, node.service.prover)[:LEARN]
    if not wrong:
        out.print("   the node gets every held-out image right: nothing to learn")
        return "nothing to learn"
    examples = [{"input": md.sample(i).tolist(), "label": label} for i, label, _ in wrong]
    with _client(node, wallet) as client:
        training = client.train(node.model_id, examples)
        for followed in training.followed:
            out.print(f"   {followed.line()}")
        out.print(f"   version {training.version}: ghostRoot {to_hex(training.ghost_root)}, paid "
                  f"{_credits(training.price)} (rotateRoot tx {training.transaction})")
        table = Table("sample", "label", "top-1 at version 0", "verified top-1 now", "root")
        fixed = 0
        for i, label, before in wrong:
            answer = client.query(node.model_id, md.sample(i))
            fixed += int(answer.top1 == label)
            table.add_row(str(i), str(label), str(before), str(answer.top1), f"version {training.version}")
    out.print(table)
    return f"{len(wrong)} images learned, {fixed} now answered right; update verified by the wallet"


def _reject_in_transit(md: ModelDir, node: DemoNode, wallet: Wallet, n_samples: int) -> bool:
    """Step 8: one more query, its answer altered on the way back (one byte of a revealed
    weight column): the wallet rejects it and keeps it as evidence, then refuses to pay that
    prover again. True when both happened."""
    out.print("8. One more query, its answer altered in transit: one byte of a revealed weight column")
    wire = TamperingTransport()
    x = md.sample(n_samples % len(md.samples))
    with _client(node, wallet, wire) as client:
        _raises(ProofError, lambda: client.query(node.model_id, x), "an altered answer was accepted")
    block = wallet.ledger.blocked(node.deployment.chain_id, node.prover)
    if block is None:
        raise AssertionError("the wallet rejected an answer but still pays its prover")  # never
    out.print(f"   [red]rejected[/red] ({wire.altered} answer altered): {block.reason}")
    out.print(f"   paid for, so kept as evidence against the prover: {block.evidence}")
    with _client(node, wallet) as client:
        refusal = _raises(PaymentError, lambda: client.query(node.model_id, x), "the wallet paid again")
    out.print("   the next query, on an honest wire: [red]refused before any voucher[/red] "
              f"({str(refusal).partition(': ')[0]})")
    return wire.altered == 1


def _raises(kind: type[E], call: Callable[[], object], never: str) -> E:
    """The ``kind`` error that ``call()`` raises; AssertionError(``never``) if it returns (a
    check that cannot fail unless the demo itself is broken)."""
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(never)


def _redeem(node: DemoNode, wallet: Wallet) -> int:
    """Step 9: the node redeems the vouchers it accepted (one round, as it does every
    ``--redeem-every`` seconds and when it stops); the channel and the prover's credits
    before and after. Returns the credits the round moved."""
    from ghostproof.adapters.chain.registry import credit_balance
    from ghostproof.verifier.wallet.credits import channel_status

    def figures() -> list[int]:
        status = channel_status(node.chain, node.deployment, wallet.ledger, wallet.address, node.prover)
        return [status.deposited, status.signed, status.redeemed,
                credit_balance(node.chain, node.deployment, node.prover)]

    out.print("9. The node redeems its vouchers on-chain (one round; it also runs every "
              "--redeem-every seconds and on shutdown)")
    before = figures()
    moved = node.service.redeemer.redeem_all()
    after = figures()
    table = Table("credits", "before", "after")
    names = ("deposited in the wallet's channel", "signed by the wallet (its ledger)",
             "redeemed from the channel (escrow, on-chain)", "the prover's credit balance")
    for name, was, now in zip(names, before, after, strict=True):
        table.add_row(name, credits_text(was), credits_text(now))
    out.print(table)
    out.print(f"   redeemed {credits_text(moved)} credits: every answer the node was paid for, "
              "the rejected one included (a bad answer costs the wallet at most one price)")
    return moved


def _summary(md: ModelDir, node: DemoNode, outcome: Outcome, n_samples: int) -> None:
    """Step 10: dense and proven accuracy on every held-out image (as registered, and after the
    node learned), and the demo's summary table."""
    from ghostproof.prover.modeldir import load_model_dir

    dense_acc, sparse_acc, agreement = outcome.before  # version 0, measured before the training
    trained = load_model_dir(md.path)  # the directory the node trained in place
    _, trained_acc, _ = accuracy(trained, node.service.prover)
    spec = md.ghost.header.layers[0]
    out.print("10. Accuracy on all held-out images")
    summary = Table("what", "value")
    summary.add_row("held-out images", str(len(md.samples)))
    summary.add_row("dense accuracy (float64 softmax over all N)", f"{dense_acc:.4f}")
    summary.add_row(f"proven accuracy (HNSW top-{spec.k}, exact integer softmax)", f"{sparse_acc:.4f}")
    summary.add_row("top-1 agreement dense vs sparse", f"{agreement:.4f}")
    summary.add_row("proven accuracy after the node learned (version 1)", f"{trained_acc:.4f}")
    summary.add_row("answers paid over HTTP and verified", f"{outcome.verified}/{n_samples}")
    summary.add_row("paid training", outcome.learned or "[red]not done[/red]")
    summary.add_row("answer altered in transit", "rejected, kept as evidence, prover no longer paid"
                    if outcome.rejected else "[red]not rejected[/red]")
    summary.add_row("credits redeemed by the node", credits_text(outcome.redeemed))
    summary.add_row("weights audited from IPFS blocks", "OK")
    out.print(summary)
