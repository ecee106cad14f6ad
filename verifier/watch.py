"""The watcher (``ghostproof audit --watch DIR``): re-check every kept answer's selection
against the full weights and challenge the wrong ones on its own (DESIGN §6).

It looks for answer files (``response.json`` / ``response.bin``, as the wallet keeps them
under ``answers/<requestHash>/``; ``rejected/`` is skipped: those failed verification and
are evidence, not receipts), groups them by model, recomputes each layer's exact top-k for
the whole group at once, and for an answer whose selection skipped a column by more than
the model's margin, dry-runs and sends the challenge. Final verdicts are recorded in a SQLite
file (WAL, synchronous=FULL) per batch, and a slash the moment it is sent, so a restarted
watcher re-checks nothing it finished and loses nothing it did; errors and a dry run's
would-slash are checked again on the next pass.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.deployment import Deployment, whole_units
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import RegisteredModel, read_model
from ghostproof.adapters.sqlite import open_db, write_tx
from ghostproof.adapters.storage.answers import read_response
from ghostproof.protocol.challenge import SkippedColumn
from ghostproof.protocol.errors import GhostproofError
from ghostproof.protocol.response import Response

from .challenge import DRY_RUN_SENDER, ModelWeights, find_skips, plan_challenge, send_challenge, worst_skip

RESPONSE_FILES = ("response.json", "response.bin")
REJECTED_DIR = "rejected"
STATE_FILE = "watch.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS checked (
    path TEXT PRIMARY KEY,
    model_id INTEGER,
    verdict TEXT NOT NULL,
    detail TEXT NOT NULL,
    tx TEXT,
    checked_at REAL NOT NULL
);
"""

#: Verdicts: the selection stands; it is wrong and was (or, dry, would be) slashed; it is
#: wrong but cannot be challenged (already slashed, window closed…); the file is unusable.
OK, SLASHED, WOULD_SLASH = "ok", "slashed", "would-slash"
NOT_CHALLENGEABLE, ERROR = "not-challengeable", "error"
#: The verdicts recorded as final. An error (a store or chain that failed, a file being
#: written) and a dry run's would-slash are reported but checked again on the next pass, so a
#: transient failure or a dry watcher never keeps a later one from challenging.
FINAL = frozenset({OK, SLASHED, NOT_CHALLENGEABLE})


@dataclass(frozen=True)
class Verdict:
    """What the watcher concluded about one answer file."""

    path: str
    model_id: int | None
    verdict: str
    detail: str
    tx: str | None = None

    def line(self) -> str:
        """One line for the console: verdict, file, figures."""
        model = f"model {self.model_id}" if self.model_id is not None else "model ?"
        tail = f" tx {self.tx}" if self.tx else ""
        return f"{self.verdict:<17} {self.path}  {model}: {self.detail}{tail}"


def answer_files(folder: Path) -> Iterator[Path]:
    """Every answer file under ``folder`` (not under a ``rejected`` folder), in path order."""
    for path in sorted(folder.rglob("response.*")):
        if path.name in RESPONSE_FILES and REJECTED_DIR not in path.relative_to(folder).parts:
            yield path


class Watcher:
    """Checks answer files and challenges wrong selections from ``account`` (dry when None)."""

    def __init__(
        self,
        chain: Chain,
        deployment: Deployment,
        weights_for: Callable[[RegisteredModel, bytes], ModelWeights],
        account: LocalAccount | None,
        state: Path,
    ):
        """``weights_for(model, root)`` loads the weights of ``model``'s version with ghostRoot
        ``root`` (called once per root; answers are grouped by model and root);
        ``state`` is the SQLite file of verdicts (created if absent)."""
        self.chain = chain
        self.deployment = deployment
        self.account = account
        self._weights_for = weights_for
        self._weights: dict[bytes, ModelWeights] = {}
        self._db = open_db(state, _SCHEMA)

    def close(self) -> None:
        """Close the state database."""
        self._db.close()

    def pending(self, folder: Path) -> list[Path]:
        """The answer files under ``folder`` that have no recorded verdict yet."""
        done = {row[0] for row in self._db.execute("SELECT path FROM checked")}
        return [p for p in answer_files(folder) if str(p) not in done]

    def check(self, paths: Sequence[Path]) -> list[Verdict]:
        """Check ``paths`` (one batch per model version), challenge the wrong ones, record and return
        every verdict in the order of ``paths``. A slash is recorded the moment it is sent, the
        other verdicts together at the end (a crash re-checks the batch: harmless, a slashed
        model is then reported not challengeable)."""
        verdicts: dict[Path, Verdict] = {}
        by_model: dict[tuple[int, bytes], list[tuple[Path, Response]]] = {}
        for path in paths:
            try:
                response = read_response(path)
            except (GhostproofError, OSError) as exc:
                verdicts[path] = Verdict(str(path), None, ERROR, f"unreadable: {exc}")
                continue
            by_model.setdefault((response.request.model_id, response.ghost_root), []).append((path, response))
        for (model_id, root), group in by_model.items():
            for path, verdict in self._check_model(model_id, root, group):
                verdicts[path] = self._record([verdict])[0] if verdict.verdict == SLASHED else verdict
        return self._record([verdicts[p] for p in paths])

    def _check_model(
        self, model_id: int, root: bytes, group: list[tuple[Path, Response]]
    ) -> Iterator[tuple[Path, Verdict]]:
        try:
            model = read_model(self.chain, self.deployment, model_id)
            weights = self._weights_of(model, root)
            skips = find_skips([r for _, r in group], weights)
        except GhostproofError as exc:
            for path, _ in group:
                yield path, Verdict(str(path), model_id, ERROR, str(exc))
            return
        for (path, response), found in zip(group, skips, strict=True):
            yield path, self._judge(path, response, model, weights, found)

    def _judge(
        self, path: Path, response: Response, model: RegisteredModel, weights: ModelWeights,
        found: list[SkippedColumn],
    ) -> Verdict:
        worst = worst_skip(found)
        figures = (f"best skipped layer {worst.layer} column {worst.column} scores {worst.score}, "
                   f"τ {worst.tau}, margin {model.margin}")
        if not worst.challengeable(model.margin):
            return Verdict(str(path), model.model_id, OK, figures)
        sender = self.account.address if self.account else DRY_RUN_SENDER
        try:
            plan = plan_challenge(self.chain, self.deployment, response, weights, sender, skips=found)
            if self.account is None:
                return Verdict(str(path), model.model_id, WOULD_SLASH, f"{figures}; gas {plan.gas}")
            slash = send_challenge(self.chain, self.deployment, self.account, plan)
        except GhostproofError as exc:
            return Verdict(str(path), model.model_id, NOT_CHALLENGEABLE, f"{figures}; {exc}")
        return Verdict(str(path), model.model_id, SLASHED,
                       f"{figures}; {whole_units(slash.reward)} credits to {slash.challenger}, "
                       f"{whole_units(slash.burned)} burned", slash.tx_hash)

    def _weights_of(self, model: RegisteredModel, root: bytes) -> ModelWeights:
        if root not in self._weights:
            self._weights[root] = self._weights_for(model, root)
        return self._weights[root]

    def _record(self, verdicts: list[Verdict]) -> list[Verdict]:
        """Record the :data:`FINAL` ones of ``verdicts`` in one transaction and return them all;
        on a database error they stand, marked not recorded (checked again next time)."""
        now = time.time()
        rows = [(v.path, v.model_id, v.verdict, v.detail, v.tx, now) for v in verdicts if v.verdict in FINAL]
        try:
            with write_tx(self._db) as db:
                db.executemany("INSERT OR REPLACE INTO checked VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            return [Verdict(v.path, v.model_id, v.verdict, f"{v.detail} (not recorded: {exc})", v.tx)
                    for v in verdicts]
        return verdicts


@dataclass
class WatchSummary:
    """Counts of a watch run, by verdict, and its time."""

    counts: dict[str, int]
    seconds: float

    def line(self) -> str:
        """One summary line: how many answers, each verdict, answers per second."""
        total = sum(self.counts.values())
        parts = ", ".join(f"{n} {v}" for v, n in sorted(self.counts.items()))
        rate = total / self.seconds if self.seconds > 0 else 0.0
        return (f"checked {total} answers ({parts or 'none new'}) in {self.seconds:.2f} s, "
                f"{rate:.1f} answers/s")


def watch(
    watcher: Watcher,
    folder: Path,
    *,
    once: bool,
    interval: float = 10.0,
    batch: int = 256,
    on_verdict: Callable[[Verdict], None] | None = None,
    on_idle: Callable[[], None] | None = None,
) -> WatchSummary:
    """Check the new answers under ``folder`` in batches of ``batch``; with ``once``, return
    after one pass, else look again every ``interval`` seconds until interrupted (Ctrl-C ends
    it cleanly: the verdicts so far are recorded). ``on_verdict`` sees each verdict."""
    counts: dict[str, int] = {}
    start = time.perf_counter()
    try:
        while True:
            todo = watcher.pending(folder)
            for i in range(0, len(todo), batch):
                for verdict in watcher.check(todo[i : i + batch]):
                    counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
                    if on_verdict:
                        on_verdict(verdict)
            if once:
                break
            if on_idle:
                on_idle()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return WatchSummary(counts, time.perf_counter() - start)
