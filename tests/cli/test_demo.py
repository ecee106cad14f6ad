"""`ghostproof demo` end to end, as a new user runs it: a real subprocess, the real embedded
chain, the real node on 127.0.0.1 and a real wallet paying it over HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

LEARNED = 3  # the demo teaches the node the first 3 held-out images it gets wrong (cli/demo.py LEARN)


def _run_demo(work: Path, samples: int, **kwargs: object) -> subprocess.CompletedProcess:
    """``ghostproof demo --dir WORK --samples N`` as a subprocess (``kwargs``: timeout, env)."""
    return subprocess.run(
        [sys.executable, "-c", "from ghostproof.cli.main import main; main()", "demo", "--dir",
         str(work), "--samples", str(samples)],
        capture_output=True,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run of ``ghostproof demo --samples 3``: (its folder, its stdout)."""
    work = tmp_path_factory.mktemp("demo")
    proc = _run_demo(work, 3, timeout=300, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "WARNING" not in proc.stderr
    return work, " ".join(proc.stdout.split())


def test_demo_builds_registers_and_audits(demo: tuple[Path, str]) -> None:
    work, out = demo
    assert "audit layer 0 K: OK" in out and "audit layer 0 V: OK" in out
    assert (work / "digits" / "ghost.json").exists()
    fetched = (work / "fetched" / "ghost.json").read_bytes()  # version 0, as registered
    assert fetched in [p.read_bytes() for p in (work / "digits" / "versions").glob("*.ghost.json")]


def test_demo_starts_a_node_and_a_funded_wallet(demo: tuple[Path, str]) -> None:
    work, out = demo
    assert re.search(r"node http://127\.0\.0\.1:\d+: model 1", out)
    assert "'model': True, 'chain': True, 'database': True" in out
    assert "credits deposit │ 1 credit into the channel to the prover" in out
    assert (work / "wallet" / "keystore.json").exists() and (work / "node" / "node.sqlite").exists()


def test_demo_pays_and_verifies_each_answer(demo: tuple[Path, str]) -> None:
    work, out = demo
    assert "answers paid over HTTP and verified │ 3/3" in out
    kept = sorted(p for p in (work / "wallet" / "answers").iterdir() if p.name.startswith("0x"))
    assert len(kept) == 3 + LEARNED  # the 3 queries, and one per learned image afterwards
    cumulative = sorted(int(json.loads((p / "payment.json").read_text())["voucher"]["cumulativeAmount"])
                        for p in kept)
    price = cumulative[0]
    assert price > 0 and cumulative[:3] == [price, 2 * price, 3 * price]
    assert cumulative[3:] == [5 * price, 6 * price, 7 * price]  # the 4th payment was the training


def test_demo_trains_through_the_node_and_the_wallet_follows(demo: tuple[Path, str]) -> None:
    work, out = demo
    assert f"following model 1 version 1 (update verified: {LEARNED} examples" in out
    assert f"{LEARNED} images learned, {LEARNED} now answered right; update verified by the wallet" in out
    assert len(list((work / "digits" / "versions").glob("*.update.json"))) == 1
    accuracy = re.search(r"proven accuracy \(HNSW top-16, exact integer softmax\) │ ([0-9.]+)", out)
    after = re.search(r"proven accuracy after the node learned \(version 1\) │ ([0-9.]+)", out)
    assert accuracy and after and float(after.group(1)) > float(accuracy.group(1))


def test_demo_rejects_the_answer_altered_in_transit(demo: tuple[Path, str]) -> None:
    work, out = demo
    assert "rejected (1 answer altered): MultiproofError: layer 0 matrix K" in out
    (evidence,) = (work / "wallet" / "answers" / "rejected").iterdir()
    assert json.loads((evidence / "payment.json").read_text())["verified"] is False
    assert "refused before any voucher (the wallet stopped paying prover" in out
    with sqlite3.connect(work / "wallet" / "ledger.sqlite") as db:
        statuses = [s for (s,) in db.execute("SELECT status FROM vouchers ORDER BY id")]
    # 3 queries, the training, a query per learned image, the altered answer; the refused
    # query signed nothing
    assert statuses == ["accepted"] * (4 + LEARNED) + ["rejected"]


def test_demo_node_redeems_what_it_was_paid(demo: tuple[Path, str]) -> None:
    _, out = demo
    # 3 answers, the training, 3 answers after it and the rejected one, at 0.01 credit each
    assert "redeemed from the channel (escrow, on-chain) │ 0 │ 0.08" in out
    assert "the prover's credit balance │ 0 │ 0.08" in out
    assert "credits redeemed by the node │ 0.08" in out


def test_invalid_demo_without_samples_exits_2(tmp_path: Path) -> None:
    proc = _run_demo(tmp_path, 0, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused up front: nothing built
