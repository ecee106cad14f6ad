"""The watcher under load (issue 12): answers re-checked per second at N = 10^5 and 10^6.

For each N: a structured one-layer model (d = 256, k = 32) is built and registered on the
embedded chain; the honest prover answers B queries (exact search) and a cheating one a
single query (its best column hidden); the answers are kept as the wallet keeps them, and
``Watcher`` checks the folder once from a funded account. Printed per N: the model build,
the watcher's one-time rebuild of the K tree (the check that the weights are the committed
ones), the batched exact top-k alone, the whole watcher pass over the honest answers (reading
the files, chain reads, recording every verdict), and the time to find the cheated answer
and slash it (dry run and transaction on the embedded EVM).

Run: `make bench-watch` (or `.venv/bin/python scripts/bench_watch.py --sizes 100000`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester, load_key_file  # noqa: E402
from ghostproof.adapters.chain.deployment import DeployParams, deploy_all  # noqa: E402
from ghostproof.adapters.chain.provider import embedded_chain  # noqa: E402
from ghostproof.adapters.chain.registry import mint_credits, register_model  # noqa: E402
from ghostproof.adapters.storage.answers import write_response  # noqa: E402
from ghostproof.adapters.storage.layout import read_ghost_bytes  # noqa: E402
from ghostproof.prover.index import ExactRetriever  # noqa: E402
from ghostproof.prover.modeldir import write_model_dir  # noqa: E402
from ghostproof.prover.presets import synthetic_model  # noqa: E402
from ghostproof.prover.prove import Prover  # noqa: E402
from ghostproof.verifier.challenge import ModelWeights, find_skips  # noqa: E402
from ghostproof.verifier.watch import Watcher, answer_files, watch  # noqa: E402

D, K = 256, 32


class _HidingRetriever:
    """Exact search without the best column: a cheating prover's retriever."""

    def __init__(self, exact: ExactRetriever):
        self._exact, self.dim, self.n = exact, exact.dim, exact.n

    def search(self, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self._exact.search(q, n + 1)
        return ids[1:], scores[1:]


def bench_one(n: int, answers: int, work: Path) -> dict[str, float | int]:
    """Build, answer, register and watch at one N; the figures of the table row."""
    t = time.perf_counter()
    float_model = synthetic_model(n, D, layers=1, k=K, seed=0, kind="structured", n_samples=answers + 1)
    md = write_model_dir(work / f"model-{n}", float_model, order=False, index=False)
    build_s = time.perf_counter() - t

    chain = embedded_chain()
    owner = dev_account(chain, 0)
    fund_from_tester(chain, owner.address, 10**23)
    params = DeployParams()
    dep, _ = deploy_all(chain, owner, params)
    key = load_key_file(md.path / "prover.key")
    fund_from_tester(chain, key.address, 10**18)
    mint_credits(chain, dep, owner, key.address, params.min_stake)
    ghost_bytes, ghost = read_ghost_bytes(md.path)
    reg = register_model(chain, dep, key, ghost_bytes, ghost, price=1, margin=0, stake=params.min_stake)

    exact = ExactRetriever(md.model.layers[0].keys)
    domain = {"model_id": reg.model_id, "chain_id": chain.chain_id, "verifying_contract": dep.registry}
    honest = Prover(md.model, key.key, [exact], **domain)
    cheat = Prover(md.model, key.key, [_HidingRetriever(exact)], **domain)
    folder, cheated = work / f"answers-{n}", work / f"cheated-{n}"
    t = time.perf_counter()
    for i in range(answers + 1):
        prover, where = (cheat, cheated) if i == answers else (honest, folder)
        response = prover.prove(np.asarray(float_model.samples[i], dtype=np.float32))
        path = where / f"0x{response.request.hash.hex()}" / "response.json"
        path.parent.mkdir(parents=True)
        write_response(path, response)
    prove_s = time.perf_counter() - t

    weights = ModelWeights.from_dir(md.path)
    t = time.perf_counter()
    weights.tree(0)
    tree_s = time.perf_counter() - t
    from ghostproof.adapters.storage.answers import read_response

    responses = [read_response(p) for p in answer_files(folder)]
    t = time.perf_counter()
    find_skips(responses, weights)
    topk_s = time.perf_counter() - t

    challenger = dev_account(chain, 1)
    fund_from_tester(chain, challenger.address, 10**18)
    watcher = Watcher(chain, dep, lambda _model, _root: weights, challenger, work / f"watch-{n}.sqlite")
    try:
        summary = watch(watcher, folder, once=True)
        slashing = watch(watcher, cheated, once=True)
    finally:
        watcher.close()
    checked = sum(summary.counts.values())
    return {"n": n, "answers": checked, "build_s": build_s, "prove_s": prove_s, "tree_s": tree_s,
            "topk_per_s": len(responses) / topk_s, "watch_per_s": checked / summary.seconds,
            "ok": summary.counts.get("ok", 0), "slashed": slashing.counts.get("slashed", 0),
            "slash_s": slashing.seconds}


def table(rows: list[dict[str, float | int]]) -> str:
    """The Markdown table of the rows."""
    lines = ["| N | honest answers | K tree rebuild, once (s) | exact top-k, batched (answers/s) | "
             "watcher pass (answers/s) | verdicts | cheated answer: found and slashed in (s) |",
             "|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['answers']} | {r['tree_s']:.2f} | {r['topk_per_s']:.1f} | "
                     f"{r['watch_per_s']:.1f} | {r['ok']} ok | {r['slash_s']:.2f} ({r['slashed']} slashed) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the options, run each size, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--answers", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "bench_watch.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(bench_one(n, args.answers, Path(tmp)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
