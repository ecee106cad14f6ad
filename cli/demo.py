"""``ghostproof demo``: the whole flow on embedded defaults, as a new user first sees it.

Steps: build and commit the digits model; deploy the contracts to the embedded chain and
register the model; publish the weights as IPFS blocks, fetch and audit them;
prove held-out images; verify each as a light client would; show a tampered answer being
rejected; report dense vs sparse accuracy; print a summary.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from ghostproof.protocol.errors import InputError, ProofError
from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.layer import layer_forward, quantise_query, reference_layer_forward, top1
from ghostproof.protocol.response import Response
from ghostproof.protocol.response_wire import encode_binary
from ghostproof.verifier.verify import Expected, verify

from .console import out, progress, step_progress

if TYPE_CHECKING:
    from ghostproof.adapters.chain.registry import RegisteredModel
    from ghostproof.protocol.ghost import GhostFile
    from ghostproof.prover.anchor import AnchorResult
    from ghostproof.prover.modeldir import ModelDir
    from ghostproof.prover.prove import Prover


def tamper_key_column(response: Response) -> Response:
    """A copy of ``response`` with one byte of layer 0's first revealed key column changed."""
    layer = response.layers[0]
    cols = layer.key_columns.copy()
    cols[0, 0] = np.int8(cols[0, 0] + 1 if cols[0, 0] < 127 else cols[0, 0] - 1)
    return replace(response, layers=(replace(layer, key_columns=cols), *response.layers[1:]))


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


def run_demo(work_dir: Path | None = None, n_samples: int = 5) -> None:
    """Run the demo end to end in ``work_dir`` (default: a new temporary folder), proving
    ``n_samples`` held-out images and printing each step; InputError unless ``n_samples`` ≥ 1,
    and raises on any unexpected failure."""
    if not isinstance(n_samples, int) or n_samples < 1:  # step 5 tampers with the first answer
        raise InputError(f"the demo needs at least one sample to prove, got {n_samples!r}")
    if work_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="ghostproof-demo-"))
    out.rule("[bold]ghostproof demo")
    md = _build(work_dir / "digits")
    anchor, registered = _register(md.path)
    _publish_fetch_audit(work_dir, md.path, registered)
    prover, expected = _prover(md, anchor, registered)
    first_response, verified = _prove_samples(md, prover, expected, registered.ghost_root, n_samples)
    _reject_tampered(first_response, md.ghost, registered.ghost_root, expected)
    _summary(md, prover, verified, n_samples)


def _build(model_dir: Path) -> ModelDir:
    """Step 1: build, commit and index the digits model into ``model_dir``."""
    from ghostproof.prover.modeldir import write_model_dir
    from ghostproof.prover.presets import digits_model

    out.print("1. Build the digits model (sklearn's bundled 8×8 digits), quantise, commit, index")
    started = time.perf_counter()
    with progress() as bar:
        md = write_model_dir(model_dir, digits_model(), on_progress=step_progress(bar))
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


def _prover(md: ModelDir, anchor: AnchorResult, registered: RegisteredModel) -> tuple[Prover, Expected]:
    """The registered prover of the anchored model, and what a verifier expects of its answers."""
    from ghostproof.prover.modeldir import make_prover

    deployment = anchor.deployment
    prover = make_prover(
        md,
        model_id=anchor.model_id,
        chain_id=deployment.chain_id,
        verifying_contract=deployment.registry,
        private_key=bytes(anchor.prover.key),
    )
    expected = Expected(
        model_id=anchor.model_id,
        chain_id=deployment.chain_id,
        verifying_contract=deployment.registry,
        prover=registered.prover,
    )
    return prover, expected


def _prove_samples(
    md: ModelDir, prover: Prover, expected: Expected, anchored_root: bytes, n_samples: int
) -> tuple[Response, int]:
    """Step 4: prove and verify the first ``n_samples`` held-out images, printing a table;
    returns the first response and how many were verified."""
    out.print(f"4. Prove {n_samples} held-out images (prover {prover.address})")
    table = Table("sample", "label", "verified top-1", "valid", "proof bytes (wire)", "prove ms",
                  "verify ms")
    verified = 0
    first_response = None
    for i in range(n_samples):
        t0 = time.perf_counter()
        response = prover.prove(md.sample(i))
        t1 = time.perf_counter()
        result = verify(response, md.ghost, anchored_root, expected)
        t2 = time.perf_counter()
        first_response = first_response or response
        label = int(md.sample_labels[i]) if md.sample_labels is not None else -1
        verified += 1
        table.add_row(
            str(i), str(label), str(result.top1), "[green]yes[/green]",
            str(len(encode_binary(response))), f"{(t1 - t0) * 1e3:.1f}", f"{(t2 - t1) * 1e3:.2f}",
        )
    out.print(table)
    return first_response, verified


def _reject_tampered(response: Response, ghost: GhostFile, anchored_root: bytes, expected: Expected) -> None:
    """Step 5: change one byte of a revealed weight column; the verifier must reject it."""
    out.print("5. Tamper with one byte of a revealed weight column")
    try:
        verify(tamper_key_column(response), ghost, anchored_root, expected)
        raise AssertionError("a tampered response was accepted")  # never: verify must reject it
    except ProofError as exc:
        out.print(f"   [red]rejected[/red]: {exc}")


def _summary(md: ModelDir, prover: Prover, verified: int, n_samples: int) -> None:
    """Step 6: dense and proven accuracy on every held-out image, and the demo's summary table."""
    dense_acc, sparse_acc, agreement = accuracy(md, prover)
    spec = md.ghost.header.layers[0]
    out.print("6. Accuracy on all held-out images")
    summary = Table("what", "value")
    summary.add_row("held-out images", str(len(md.samples)))
    summary.add_row("dense accuracy (float64 softmax over all N)", f"{dense_acc:.4f}")
    summary.add_row(f"proven accuracy (HNSW top-{spec.k}, exact integer softmax)", f"{sparse_acc:.4f}")
    summary.add_row("top-1 agreement dense vs sparse", f"{agreement:.4f}")
    summary.add_row("answers proved and verified", f"{verified}/{n_samples}")
    summary.add_row("tampered answer", "rejected")
    summary.add_row("weights audited from IPFS blocks", "OK")
    out.print(summary)
