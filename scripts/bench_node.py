"""Load benchmark of the prover node (issue 11): ``ghostproof serve`` on Anvil, paid for.

    python scripts/bench_node.py --n 100000 --duration 10 --clients 1,4,16 --out bench-out/node.md

Builds (once, cached under ``--cache``) a synthetic structured model of N patterns, d = 256,
k = 32, committed and HNSW-indexed; starts Anvil, deploys, registers the model and runs
``ghostproof serve`` **as a subprocess** on 127.0.0.1 (so its RSS and CPU are its own). Then:

1. the node's steps, in this process: a bare ``Prover.prove`` on the very Prover the node
   builds (``open_node`` on the same chain, its own ledger), and each step of a paid query
   with the node's own objects (parse, payment header, signature recovery, channel check,
   prove, SQLite commit, encode);
2. paying load: 1, 4, 16 … clients (``--clients``), each a thread of this process with its
   own channel and its own httpx connection bound to its own loopback address (127.0.1.x),
   signing a real cumulative voucher per query (before the clock starts); qps and p50/p99 of
   the HTTP round trip; then one client in the binary wire forms, and the HTTP floor
   (``GET /health``). What the node adds to a bare prove is the 1-client p50 minus the bare
   prove's p50;
3. on a second node process (same ledger) with the flood phases' per-IP limit: the paying
   load of ``--flood-clients`` alone, then under a flood of ``--flood-factor`` × as many
   requests without a voucher, then with forged signatures, sent open-loop by another
   process over raw keep-alive sockets from 127.0.0.2 (``--flood-sources`` addresses): the
   paying p99 against the unflooded one, the flood's 402/429 split, the node's RSS (sampled
   from /proc) before, during and after.

Batching (issue 14): ``--batch-max`` takes a comma-separated list (default ``16,1``): the
paying phases run once per value, each on its own node process (``serve --batch-max B``, same
ledger), so batching on and off (1: each query proven alone, as before batching) are measured
in the same run, on the same chain and clients; the "Batching" table sets them side by side,
with the mean batch size read from the node's ``ghostproof_batch_size``. The binary-form row,
the HTTP floor and the flood phases use the first value.

The node's rate limits are set for the run and reported: ``--rate-per-ip`` (default
1000/second) in the paying phases, so that one client alone on its address is never
limited, and ``--flood-rate-per-ip`` (100/second) in the flood phases, above what a paying
client then sends and far below the flood. Every loop stops by itself, at ``--duration``
seconds or a count bound; all traffic goes to 127.0.0.1. Whether the load generator is the
bottleneck shows in the CPU columns (this process's and the flood process's CPU seconds per
second against the node's) and in the node's own mean request time (``/metrics``) against
the clients' latency. Prints the tables and writes them as markdown to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.accounts import dev_account
from ghostproof.adapters.chain.anvil import Anvil, free_port
from ghostproof.adapters.chain.deployment import ONE_CREDIT, Deployment, deploy_all, save_deployment
from ghostproof.adapters.chain.escrow import deposit
from ghostproof.adapters.chain.provider import Chain, connect
from ghostproof.adapters.chain.registry import mint_credits, register_model
from ghostproof.adapters.chain.tx import send_eth
from ghostproof.adapters.storage.layout import GHOST_FILE, SAMPLES_FILE, read_ghost_bytes
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    Payment,
    Settlement,
    Terms,
    decode_payment_required,
)
from ghostproof.protocol.request import encode_request, request_to_json
from ghostproof.protocol.response import Request
from ghostproof.protocol.response_json import loads_response
from ghostproof.protocol.voucher import Voucher, sign_voucher

JSON = "application/json"
BINARY = "application/octet-stream"
PRICE = 10**12  # credit base units per query (10^-6 credit)
DEPOSIT = ONE_CREDIT  # per client: 10^6 queries
MAX_QPS_PER_CLIENT = 2000  # a client's count bound per phase: duration × this
FLOOD_CONNECTIONS = 32
NOISE = 0.05
WARMUP = 3  # queries per client before each timed phase
LOOPBACK_NODE = "127.0.0.1"


def log(msg: str) -> None:
    """Print ``msg`` with the time of day, at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(samples: list[float], q: float) -> float:
    """The ``q``-th percentile of ``samples`` (seconds), in milliseconds (nan when empty)."""
    return float(np.percentile(samples, q) * 1e3) if samples else float("nan")


# ---------------------------------------------------------------------------------- the model


def model_dir(cache: Path, n: int, d: int, k: int) -> Path:
    """The cached model directory for (n, d, k): built (synthetic, structured, one layer,
    ordered, committed, HNSW-indexed) on first use."""
    from ghostproof.prover.modeldir import write_model_dir
    from ghostproof.prover.presets import synthetic_model

    path = cache / f"model-n{n}-d{d}-k{k}-structured"
    if (path / GHOST_FILE).exists() and (path / "model.json").exists():
        log(f"model: cached {path}")
        return path
    log(f"model: building N={n:,} d={d} k={k} (structured) into {path} …")
    started = time.perf_counter()
    write_model_dir(path, synthetic_model(n, d, layers=1, k=k, kind="structured"))
    log(f"model: built in {time.perf_counter() - started:.1f} s")
    return path


def input_pool(path: Path, size: int = 512, seed: int = 1) -> np.ndarray:
    """``size`` query vectors: the model's noisy samples with a little more noise each."""
    samples = np.load(path / SAMPLES_FILE)
    rng = np.random.default_rng(seed)
    picks = samples[rng.integers(0, len(samples), size)]
    return (picks + rng.normal(0, NOISE, picks.shape)).astype(np.float32)


# ---------------------------------------------------------------------------------- the chain


@dataclass
class Setup:
    """Anvil with the contracts, the model registered, the paying accounts funded."""

    anvil: Anvil
    chain: Chain
    deployment: Deployment
    deployment_file: Path
    prover: LocalAccount
    model_id: int
    clients: list[LocalAccount]


def set_up_chain(path: Path, tmp: Path, n_clients: int) -> Setup:
    """Start Anvil, deploy, register the model (dev account 1 is the prover), fund
    ``n_clients`` fresh clients with a deposit each in their channel to the prover."""
    anvil = Anvil()
    chain = connect(anvil.url)
    owner, prover = dev_account(chain, 0), dev_account(chain, 1)
    dep, _ = deploy_all(chain, owner)
    save_deployment(tmp / "deployment.json", dep)
    stake = int(dep.params["minStake"])
    mint_credits(chain, dep, owner, prover.address, stake)
    ghost_bytes, ghost = read_ghost_bytes(path / GHOST_FILE)
    model_id = register_model(chain, dep, prover, ghost_bytes, ghost, price=PRICE, margin=0,
                              stake=stake).model_id
    clients = []
    for _ in range(n_clients):
        acct = Account.create()
        send_eth(chain, owner, acct.address, 10**18)
        mint_credits(chain, dep, owner, acct.address, DEPOSIT)
        deposit(chain, dep, acct, prover.address, DEPOSIT)
        clients.append(acct)
    log(f"chain: Anvil {anvil.url}, model {model_id} registered, {n_clients} channels funded")
    return Setup(anvil, chain, dep, tmp / "deployment.json", prover, model_id, clients)


# ---------------------------------------------------------------------------------- the node


def proc_rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """User + system CPU seconds of this process (every thread)."""
    t = os.times()
    return t.user + t.system


class NodeProcess:
    """``ghostproof serve`` as a subprocess on 127.0.0.1, its log in ``tmp``."""

    def __init__(self, setup: Setup, path: Path, tmp: Path, rate_ip: str, rate_channel: str,
                 batch_max: int = 16):
        self.port = free_port()
        self.batch_max = batch_max
        self.url = f"http://{LOOPBACK_NODE}:{self.port}"
        cmd = [str(Path(sys.executable).with_name("ghostproof")), "serve", str(path),
               "--model-id", str(setup.model_id), "--rpc", setup.anvil.url,
               "--deployment", str(setup.deployment_file), "--dev-account", "1",
               "--host", LOOPBACK_NODE, "--port", str(self.port), "--db", str(tmp / "node.sqlite"),
               "--rate-per-ip", rate_ip, "--rate-per-channel", rate_channel,
               "--batch-max", str(batch_max)]
        self.log_path = tmp / "node.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the node exited ({self.proc.returncode}): "
                                   f"{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    log(f"node: ghostproof serve pid {self.proc.pid} on {self.url}")
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the node did not become ready")

    @property
    def pid(self) -> int:
        """The node's process id."""
        return self.proc.pid

    def metrics(self) -> dict[str, float]:
        """The node's ghostproof_* samples (``name{labels}`` → value) from ``GET /metrics``."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        out = {}
        for line in text.splitlines():
            if line.startswith("ghostproof_"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def stop(self, timeout: float = 120) -> tuple[int | None, float]:
        """SIGTERM (the node redeems every channel, then exits); (exit code, seconds taken)."""
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode, time.perf_counter() - started


class RssSampler:
    """Samples a process's RSS every ``every`` seconds in a thread (at most ``limit`` samples)."""

    def __init__(self, pid: int, every: float = 0.1, limit: int = 100_000):
        self.pid, self.every, self.limit = pid, every, limit
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.samples) < self.limit:
            try:
                self.samples.append((time.perf_counter(), proc_rss_mb(self.pid)))
            except OSError:
                return
            self._stop.wait(self.every)

    def between(self, start: float, end: float) -> list[float]:
        """The samples (MB) taken between perf_counter times ``start`` and ``end``."""
        return [mb for t, mb in self.samples if start <= t <= end]

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------------- paying clients


@dataclass
class Payer:
    """One paying client: its own channel, its own connection from its own loopback address."""

    url: str
    model_id: int
    account: LocalAccount
    source: str
    inputs: np.ndarray
    terms: Terms | None = None
    accepted: int = 0
    settlement: str | None = None
    binary: bool = False  # the binary wire forms (request body and answer) instead of JSON
    first: tuple[Request, bytes] | None = field(default=None, repr=False)
    http: httpx.Client = field(init=False, repr=False)
    _i: int = 0

    def __post_init__(self) -> None:
        transport = httpx.HTTPTransport(local_address=self.source)
        self.http = httpx.Client(transport=transport, timeout=30)

    @property
    def query_url(self) -> str:
        return f"{self.url}/v1/models/{self.model_id}/query"

    def fetch_terms(self) -> None:
        """The node's terms from the 402 to an unpaid request naming this client."""
        request = Request(self.model_id, self.inputs[0], bytes(32))
        r = self.http.post(self.query_url, json=request_to_json(request),
                           headers={"X-GHOSTPROOF-CLIENT": self.account.address})
        if r.status_code != 402:
            raise RuntimeError(f"expected 402 for an unpaid request, got {r.status_code}: {r.text}")
        self.terms, _ = decode_payment_required(r.headers[PAYMENT_REQUIRED_HEADER])
        self.accepted = self.terms.last_accepted

    def query(self) -> tuple[float, int]:
        """One paid query at the next cumulative amount: (seconds of the HTTP round trip,
        status). The voucher is signed before the clock starts; a refused one (429) is not
        recorded by the node, so the next query pays the same amount again."""
        t = self.terms
        if t is None:
            raise RuntimeError("fetch_terms first")
        x = self.inputs[self._i % len(self.inputs)]
        self._i += 1
        request = Request(self.model_id, x, secrets.token_bytes(32))
        amount = self.accepted + t.price
        voucher = Voucher(self.account.address, t.prover, t.epoch, amount, t.chain_id, t.escrow)
        header = Payment(t, voucher, sign_voucher(voucher, self.account.key), request.hash).to_header()
        if self.binary:
            body = encode_request(request)
            headers = {"Content-Type": BINARY, "Accept": BINARY, PAYMENT_SIGNATURE_HEADER: header}
        else:
            body = json.dumps(request_to_json(request)).encode()
            headers = {"Content-Type": JSON, PAYMENT_SIGNATURE_HEADER: header}
        started = time.perf_counter()
        r = self.http.post(self.query_url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        if r.status_code == 200:
            self.accepted = amount
            self.settlement = r.headers.get(PAYMENT_RESPONSE_HEADER)
            if self.first is None and not self.binary:
                self.first = (request, r.content)
        return elapsed, r.status_code

    def check_settlement(self) -> None:
        """The node's last PAYMENT-RESPONSE names the amount this client last paid."""
        if self.settlement is not None:
            settled = Settlement.from_header(self.settlement)
            if settled.accepted != self.accepted:
                raise RuntimeError(f"settlement {settled.accepted} != paid {self.accepted}")


@dataclass
class LoadResult:
    """One timed phase of paying clients."""

    label: str
    clients: int
    elapsed: float
    latencies: list[float]
    statuses: Counter
    cpu_self: float  # this process's CPU seconds in the window
    cpu_node: float
    node_request_s: float  # the node's own mean request time (/metrics), seconds
    node_prove_s: float
    load: tuple[float, float, float]
    batch_max: int = 16  # the node's --batch-max
    mean_batch: float = float("nan")  # queries per forward pass (ghostproof_batch_size)

    @property
    def paid(self) -> int:
        return self.statuses[200]

    @property
    def qps(self) -> float:
        return self.paid / self.elapsed if self.elapsed else float("nan")


def _client_loop(payer: Payer, start: threading.Barrier, deadline: list[float], cap: int,
                 out: list[tuple[float, int]]) -> None:
    for _ in range(WARMUP):
        payer.query()
    start.wait()
    while len(out) < cap and time.perf_counter() < deadline[0]:
        out.append(payer.query())


def http_floor(payer: Payer, count: int = 300) -> list[float]:
    """Seconds of ``count`` ``GET /health`` round trips on ``payer``'s connection."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        payer.http.get(f"{payer.url}/health")
        out.append(time.perf_counter() - started)
    return out


def _metric_delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    return total / count if count else float("nan")


def run_paying(node: NodeProcess, payers: list[Payer], duration: float,
               during: Callable[[], None] | None = None) -> LoadResult:
    """``payers`` query back to back for ``duration`` seconds (each at most
    MAX_QPS_PER_CLIENT × duration queries), after WARMUP queries each; ``during`` runs in the
    caller's thread once they start (the flood)."""
    cap = int(MAX_QPS_PER_CLIENT * duration)
    results: list[list[tuple[float, int]]] = [[] for _ in payers]
    barrier = threading.Barrier(len(payers) + 1)
    deadline = [math.inf]
    threads = [threading.Thread(target=_client_loop, args=(p, barrier, deadline, cap, out), daemon=True)
               for p, out in zip(payers, results, strict=True)]
    for t in threads:
        t.start()
    barrier.wait(timeout=120)
    before = node.metrics()
    cpu0, node0, t0 = own_cpu_s(), proc_cpu_s(node.pid), time.perf_counter()
    deadline[0] = t0 + duration
    if during is not None:
        during()
    for t in threads:
        t.join(timeout=duration + 60)
    elapsed = time.perf_counter() - t0
    cpu1, node1 = own_cpu_s(), proc_cpu_s(node.pid)
    after = node.metrics()
    flat = [r for out in results for r in out]
    for p in payers:
        p.check_settlement()
    return LoadResult(
        label=f"{len(payers)}" + (" (binary)" if payers[0].binary else ""), clients=len(payers),
        elapsed=elapsed, latencies=[s for s, status in flat if status == 200],
        statuses=Counter(status for _, status in flat), cpu_self=cpu1 - cpu0, cpu_node=node1 - node0,
        node_request_s=_metric_delta(before, after, "ghostproof_request_seconds"),
        node_prove_s=_metric_delta(before, after, "ghostproof_prove_seconds"), load=os.getloadavg(),
        batch_max=node.batch_max, mean_batch=_metric_delta(before, after, "ghostproof_batch_size"))


def verify_one(payer: Payer, path: Path, ghost_root: bytes) -> None:
    """Verify the first answer a client was paid for (a sanity check: the node proves)."""
    from ghostproof.adapters.storage.layout import read_ghost
    from ghostproof.verifier.verify import Expected, verify

    if payer.first is None:
        raise RuntimeError("no paid answer to verify")
    request, body = payer.first
    verify(loads_response(body), read_ghost(path / GHOST_FILE), ghost_root,
           Expected(model_id=payer.model_id, request=request))


# ---------------------------------------------------------------------------------- the flood


@dataclass(frozen=True)
class FloodPlan:
    """A flood of one pre-built request, sent open-loop at ``rate`` per second from
    ``sources`` over ``connections`` keep-alive connections, for ``duration`` seconds and at
    most ``max_count`` requests."""

    port: int
    sources: tuple[str, ...]
    request: bytes
    rate: float
    duration: float
    max_count: int
    connections: int = FLOOD_CONNECTIONS


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bool]:
    """Send ``request``; read the whole reply. (status, whether the node closes the connection)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    await reader.readexactly(length)
    return status, close


async def _flood(plan: FloodPlan) -> dict[str, float]:
    counts: Counter = Counter()
    ticket = itertools.count()
    t0 = time.perf_counter()
    deadline = t0 + plan.duration

    async def worker(j: int) -> None:
        conn = None
        while (i := next(ticket)) < plan.max_count:
            due = t0 + i / plan.rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            if time.perf_counter() >= deadline:
                break
            try:
                if conn is None:
                    conn = await asyncio.open_connection(
                        LOOPBACK_NODE, plan.port, local_addr=(plan.sources[j % len(plan.sources)], 0))
                status, close = await asyncio.wait_for(_exchange(*conn, plan.request), 30)
                counts[str(status)] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                counts["error"] += 1
                close = True
            if close and conn is not None:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker(j) for j in range(plan.connections)))
    return {**counts, "elapsed": time.perf_counter() - t0}


def flood_process(plans: mp.Queue, results: mp.Queue) -> None:
    """The flood process: run each plan received (None ends it), put its counts and CPU time."""
    results.put("ready")
    while (item := plans.get()) is not None:
        plan, start_at = item
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = own_cpu_s()
        counts = asyncio.run(_flood(plan))
        results.put({**counts, "cpu": own_cpu_s() - cpu0})


class Flooder:
    """A separate process (spawned once) that floods the node on request."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.plans, self.results = ctx.Queue(), ctx.Queue()
        self.proc = ctx.Process(target=flood_process, args=(self.plans, self.results), daemon=True)
        self.proc.start()
        if self.results.get(timeout=120) != "ready":
            raise RuntimeError("the flood process did not start")

    def start(self, plan: FloodPlan, start_at: float) -> None:
        """Flood from wall time ``start_at``."""
        self.plans.put((plan, start_at))

    def result(self, timeout: float) -> dict[str, float]:
        """The counts of the last flood."""
        return self.results.get(timeout=timeout)

    def close(self) -> None:
        """End the process."""
        self.plans.put(None)
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The raw bytes of one HTTP/1.1 POST to 127.0.0.1:``port``."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {LOOPBACK_NODE}:{port}", f"Content-Type: {JSON}",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def flood_requests(port: int, model_id: int, terms: Terms, x: np.ndarray) -> dict[str, bytes]:
    """The two floods' requests: ``unpaid`` (no PAYMENT-SIGNATURE) and ``forged`` (a well-formed
    payment for this very request, for a client whose key did not sign it)."""
    request = Request(model_id, x, secrets.token_bytes(32))
    body = json.dumps(request_to_json(request)).encode()
    victim, forger = Account.create(), Account.create()
    voucher = Voucher(victim.address, terms.prover, terms.epoch, terms.price, terms.chain_id, terms.escrow)
    forged = Payment(terms, voucher, sign_voucher(voucher, forger.key), request.hash).to_header()
    path = f"/v1/models/{model_id}/query"
    return {"unpaid": http_request(port, path, body, {}),
            "forged": http_request(port, path, body, {PAYMENT_SIGNATURE_HEADER: forged})}


@dataclass
class FloodResult:
    """One flood phase: the paying load under it, the flood's counts, the node's RSS."""

    kind: str
    target_rate: float
    paying: LoadResult
    flood: dict[str, float]
    rss_before: float
    rss_during: float
    rss_after: float

    @property
    def sent(self) -> int:
        return int(sum(v for k, v in self.flood.items() if k not in ("elapsed", "cpu")))

    def share(self, status: str) -> float:
        """The fraction of flood requests answered ``status``."""
        return self.flood.get(status, 0) / self.sent if self.sent else float("nan")


def run_flood(node: NodeProcess, payers: list[Payer], flooder: Flooder, sampler: RssSampler,
              kind: str, request: bytes, rate: float, duration: float,
              sources: tuple[str, ...]) -> FloodResult:
    """The paying load for ``duration`` s while ``rate`` flood requests per second arrive."""
    plan = FloodPlan(node.port, sources, request, rate, duration, int(rate * duration))
    settle = min(1.0, duration / 2)  # RSS sampled this long before, and twice as long after
    t_before = time.perf_counter()
    time.sleep(settle)
    rss_before = sampler.between(t_before, time.perf_counter())
    window: list[float] = []

    def flood() -> None:
        window.append(time.perf_counter())
        flooder.start(plan, time.time())

    paying = run_paying(node, payers, duration, during=flood)
    counts = flooder.result(timeout=duration + 120)
    t_end = time.perf_counter()
    time.sleep(2 * settle)
    rss_after = sampler.between(t_end + settle, time.perf_counter())
    during = sampler.between(window[0], t_end)
    return FloodResult(kind, rate, paying, counts, max(rss_before), max(during), max(rss_after))


# ---------------------------------------------------------------------------------- overhead


@dataclass
class Breakdown:
    """The node's steps for one paid query, timed one by one in this process (seconds each)."""

    steps: dict[str, list[float]] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.steps.setdefault(name, []).append(time.perf_counter() - started)


def time_bare_prove(service, inputs: np.ndarray, count: int, limit_s: float) -> list[float]:
    """Seconds of ``count`` bare ``Prover.prove`` calls (at most ``limit_s`` seconds in all)."""
    prover, out = service.prover, []
    deadline = time.perf_counter() + limit_s
    for i in range(count):
        nonce = secrets.token_bytes(32)
        started = time.perf_counter()
        prover.prove(inputs[i % len(inputs)], nonce)
        out.append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    return out


def time_node_steps(service, client: LocalAccount, inputs: np.ndarray, count: int,
                    limit_s: float) -> Breakdown:
    """Each step of the node's paid path (prover/node: app.parse_query, PaymentGate.parse,
    .authenticate, .retry_of + .admit, Prover.prove, Ledger.accept, app.render) with the
    node's own objects on ``client``'s channel, ``count`` times (at most ``limit_s`` s)."""
    from ghostproof.protocol.response_wire import encode_binary
    from ghostproof.prover.node.app import parse_query, render
    from ghostproof.prover.node.ledger import Accepted
    from ghostproof.prover.node.service import Answer

    gate, terms, bd = service.gate, service.terms, Breakdown()
    deadline = time.perf_counter() + limit_s
    for i in range(count):
        request = Request(terms.model_id, inputs[i % len(inputs)], secrets.token_bytes(32))
        v = Voucher(client.address, terms.prover, 0, (i + 1) * terms.price, terms.chain_id, terms.escrow)
        header = Payment(terms, v, sign_voucher(v, client.key), request.hash).to_header()
        body = json.dumps(request_to_json(request)).encode()
        with bd.step("total"):
            with bd.step("parse body (JSON)"):
                parsed = parse_query(body, JSON)
            with bd.step("parse PAYMENT-SIGNATURE"):
                payment = gate.parse(header, parsed)
            with bd.step("signature recovery"):
                gate.authenticate(payment)
            with bd.step("channel check (ledger reads, cached channel, check_voucher)"):
                if gate.retry_of(payment) is not None:
                    raise RuntimeError("unexpected retry")
                admission = gate.admit(payment)
            with bd.step("Prover.prove"):
                response = service.prover.prove(parsed.x, parsed.nonce)
            with bd.step("SQLite commit (Ledger.accept, WAL + FULL)"):
                service.ledger.accept(Accepted(v.client, v.epoch, v.cumulative_amount, payment.signature,
                                               payment.request_hash, response.digest(),
                                               encode_binary(response)))
            with bd.step("encode answer (response JSON + PAYMENT-RESPONSE)"):
                settled = Settlement(terms.chain_id, v.client, v.cumulative_amount,
                                     admission.channel.deposited - v.cumulative_amount, v.epoch)
                render(Answer(response, settled), JSON)
        wire = encode_request(request)
        with bd.step("binary form: parse body (instead of JSON)"):
            parse_query(wire, BINARY)
        with bd.step("binary form: encode answer (instead of JSON)"):
            render(Answer(response, settled), BINARY)
        if time.perf_counter() > deadline:
            break
    return bd


# ---------------------------------------------------------------------------------- report


def machine() -> str:
    """One line about the machine and its load."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load average {load}")


def paying_table(rows: list[LoadResult]) -> list[str]:
    out = ["| clients | paid queries | q/s | p50 ms | p99 ms | non-200 | node mean ms (/metrics) "
           "| node prove mean ms | node CPU | generator CPU | load (1 min) | --batch-max | mean batch |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        other = sum(v for k, v in r.statuses.items() if k != 200)
        out.append(f"| {r.label} | {r.paid:,} | {r.qps:.0f} | {pct(r.latencies, 50):.2f} | "
                   f"{pct(r.latencies, 99):.2f} | {other} | {r.node_request_s * 1e3:.2f} | "
                   f"{r.node_prove_s * 1e3:.2f} | {r.cpu_node / r.elapsed:.2f} | "
                   f"{r.cpu_self / r.elapsed:.2f} | {r.load[0]:.2f} | {r.batch_max} | {r.mean_batch:.2f} |")
    return out


def batching_table(rows: list[LoadResult]) -> list[str]:
    """Per client count, each --batch-max against 1 (each query alone), from the same run: the
    phases of each (clients, --batch-max) pooled (their paid queries over their seconds, their
    latencies together, the mean batch over their phases)."""
    pooled: dict[tuple[int, int], list[LoadResult]] = {}
    for r in rows:
        if r.label == str(r.clients):
            pooled.setdefault((r.clients, r.batch_max), []).append(r)

    def figures(group: list[LoadResult]) -> tuple[float, list[float], float]:
        lat = [x for r in group for x in r.latencies]
        return (sum(r.paid for r in group) / sum(r.elapsed for r in group), lat,
                float(np.nanmean([r.mean_batch for r in group])))

    out = ["| clients | --batch-max | phases | mean batch | q/s | q/s alone | × | p50 ms | p50 alone | "
           "p99 ms | p99 alone |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (c, b), group in pooled.items():
        if b == 1 or (c, 1) not in pooled:
            continue
        (qps, lat, mean), (qps1, lat1, _) = figures(group), figures(pooled[(c, 1)])
        out.append(f"| {c} | {b} | {len(group)} | {mean:.2f} | {qps:.0f} | {qps1:.0f} | {qps / qps1:.2f} | "
                   f"{pct(lat, 50):.2f} | {pct(lat1, 50):.2f} | {pct(lat, 99):.2f} | {pct(lat1, 99):.2f} |")
    return out


def overhead_table(bare: list[float], rows: list[LoadResult], bd: Breakdown, floor: list[float]) -> list[str]:
    """The node's steps in-process, the HTTP floor, and what the node adds at p50."""
    out = ["| step | p50 µs | p99 µs |", "|---|---:|---:|"]
    for name, samples in [*bd.steps.items(), ("bare `Prover.prove` (the baseline)", bare),
                          ("HTTP floor: `GET /health` round trip, same client", floor)]:
        out.append(f"| {name} | {pct(samples, 50) * 1e3:.0f} | {pct(samples, 99) * 1e3:.0f} |")
    steps = pct(bd.steps["total"], 50) - pct(bd.steps["Prover.prove"], 50)
    out += ["", f"In-process, the node's steps outside the prove take {steps:.2f} ms at p50."]
    for r in rows:
        if r.clients == 1:
            node = pct(r.latencies, 50)
            out.append(f"Paid query over HTTP, {r.label} client, --batch-max {r.batch_max}: p50 "
                       f"{node:.2f} ms against a bare prove's {pct(bare, 50):.2f} ms: "
                       f"**the node adds {node - pct(bare, 50):.2f} ms at p50**.")
    return out


def flood_table(ref: LoadResult | None, rows: list[FloodResult]) -> list[str]:
    out = ["| flood | target/s | sent | achieved/s | 402 | 429 | other | paying q/s | p50 ms | p99 ms "
           "| p99 / unflooded | paying non-200 | node RSS MB before / max during / after "
           "| node CPU | flood CPU |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    ref_p99 = pct(ref.latencies, 99) if ref else float("nan")
    if ref is not None:
        out.append(f"| none ({ref.clients} clients) | – | – | – | – | – | – | {ref.qps:.0f} | "
                   f"{pct(ref.latencies, 50):.2f} | {ref_p99:.2f} | 1.00 | "
                   f"{sum(v for k, v in ref.statuses.items() if k != 200)} | – | "
                   f"{ref.cpu_node / ref.elapsed:.2f} | – |")
    for f in rows:
        p, elapsed = f.paying, f.flood.get("elapsed", float("nan"))
        other = sum(v for k, v in f.flood.items() if k not in ("402", "429", "elapsed", "cpu")) / f.sent
        out.append(f"| {f.kind} | {f.target_rate:.0f} | {f.sent:,} | {f.sent / elapsed:.0f} | "
                   f"{f.share('402'):.1%} | {f.share('429'):.1%} | {other:.1%} | {p.qps:.0f} | "
                   f"{pct(p.latencies, 50):.2f} | {pct(p.latencies, 99):.2f} | "
                   f"{pct(p.latencies, 99) / ref_p99:.2f} | "
                   f"{sum(v for k, v in p.statuses.items() if k != 200)} | "
                   f"{f.rss_before:.0f} / {f.rss_during:.0f} / {f.rss_after:.0f} | "
                   f"{p.cpu_node / p.elapsed:.2f} | {f.flood.get('cpu', 0) / elapsed:.2f} |")
    return out


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="patterns (columns) of the model")
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per timed phase")
    parser.add_argument("--clients", default="1,4,16", help="paying clients per phase, comma-separated")
    parser.add_argument("--flood-clients", type=int, default=4, help="paying clients under the flood")
    parser.add_argument("--flood-factor", type=float, default=10.0,
                        help="flood requests per paying query (of the unflooded rate)")
    parser.add_argument("--flood-sources", type=int, default=1,
                        help="loopback addresses the flood comes from (127.0.0.2 …)")
    parser.add_argument("--rate-per-ip", default="1000/second",
                        help="the node's per-IP limit in the paying phases (one client alone must fit)")
    parser.add_argument("--flood-rate-per-ip", default="100/second",
                        help="the node's per-IP limit in the flood phases (a paying client must fit)")
    parser.add_argument("--rate-per-channel", default="1000/second", help="the node's per-channel limit")
    parser.add_argument("--batch-max", default="16,1",
                        help="the node's --batch-max, comma-separated: the paying phases run once per "
                             "value (1: no batching), the rest with the first")
    parser.add_argument("--repeat", type=int, default=1,
                        help="paying phases per (clients, --batch-max), the order of the values "
                             "alternating; the Batching table pools them")
    parser.add_argument("--prove-queries", type=int, default=300,
                        help="bare prove calls and node-step iterations (each bounded by --duration)")
    parser.add_argument("--cache", type=Path, default=Path("bench-out/bench_node"),
                        help="where the model directory is built once")
    parser.add_argument("--out", type=Path, default=Path("bench-out/bench_node.md"), help="markdown output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    clients = sorted({int(c) for c in args.clients.split(",") if c.strip()})
    path = model_dir(args.cache, args.n, args.d, args.k)
    inputs = input_pool(path)
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp_name:
        tmp = Path(tmp_name)
        setup = set_up_chain(path, tmp, max([*clients, args.flood_clients]) + 1)
        try:
            md = bench(args, clients, path, inputs, setup, tmp)
        finally:
            setup.anvil.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    print(md)
    log(f"markdown written to {args.out}")


def bench(args: argparse.Namespace, clients: list[int], path: Path, inputs: np.ndarray, setup: Setup,
          tmp: Path) -> str:
    """Every phase; the markdown report."""
    header = [f"N = {args.n:,}, d = {args.d}, k = {args.k}, one structured layer; {args.duration:g} s "
              f"per timed phase. Machine at start: {machine()}."]
    bare, bd, ghost_root = measure_overhead(args, path, inputs, setup, tmp)
    payers = [Payer("", setup.model_id, acct, f"127.0.1.{i + 1}", inputs)
              for i, acct in enumerate(setup.clients[:-1])]
    flooder = Flooder()
    try:
        rows, floor, stopped = measure_paying(args, clients, path, payers, setup, tmp)
        verify_one(payers[0], path, ghost_root)
        ref, floods, stopped_2 = measure_floods(args, path, payers[:args.flood_clients], flooder, setup, tmp)
    finally:
        flooder.close()
    lines = ["### Setup", "", *header, f"Machine at end: {machine()}.",
             f"Paying phases: node limits {args.rate_per_ip} per IP, {args.rate_per_channel} per channel; "
             f"{stopped}.", f"Flood phases: a second node process on the same ledger, limits "
             f"{args.flood_rate_per_ip} per IP, {args.rate_per_channel} per channel; {stopped_2}.", "",
             "### Paying clients", "", *paying_table(rows), "",
             "### Batching (issue 14): each --batch-max against 1 (each query alone), same run", "",
             *batching_table(rows), "",
             "### What the node adds to a bare prove (p50)", "", *overhead_table(bare, rows, bd, floor), "",
             f"### Flood ({args.flood_factor:g}× the unflooded paying rate, from {args.flood_sources} "
             f"address(es)), {args.flood_clients} paying clients", "", *flood_table(ref, floods), ""]
    return "\n".join(lines)


def measure_overhead(args: argparse.Namespace, path: Path, inputs: np.ndarray, setup: Setup,
                     tmp: Path) -> tuple[list[float], Breakdown, bytes]:
    """The bare prove and the node's steps, in this process, with the node's own objects
    (``open_node`` on the same chain, its own ledger); and the registered ghostRoot."""
    from ghostproof.prover.node.boot import open_node
    from ghostproof.prover.node.config import NodeConfig

    service = open_node(path, setup.model_id, setup.chain, setup.deployment, setup.prover, NodeConfig(),
                        tmp / "inproc.sqlite")
    try:
        bare = time_bare_prove(service, inputs, args.prove_queries, args.duration)
        bd = time_node_steps(service, setup.clients[-1], inputs, args.prove_queries, args.duration)
    finally:
        service.ledger.close()
    log(f"bare prove p50 {pct(bare, 50):.2f} ms; node steps p50 {pct(bd.steps['total'], 50):.2f} ms")
    return bare, bd, service.registered.ghost_root


def stopped_text(node: NodeProcess) -> str:
    """Stop ``node``; one line saying how."""
    code, seconds = node.stop()
    return f"stopped with SIGTERM: exit {code}, redeeming every channel took {seconds:.1f} s"


def measure_paying(args: argparse.Namespace, clients: list[int], path: Path, payers: list[Payer],
                   setup: Setup, tmp: Path) -> tuple[list[LoadResult], list[float], str]:
    """1, 4, 16 … paying clients against a node with the paying phases' limits, for each
    ``--batch-max`` value in turn at each client count (a node process each, the same
    ledger, so that batching on and off are measured minutes apart); on the first node,
    then one client in the binary wire forms and the HTTP floor (``GET /health``)."""
    batches = [int(b) for b in args.batch_max.split(",") if b.strip()]
    rows: list[LoadResult] = []
    floor: list[float] = []
    stopped = ""
    for c, r in itertools.product(clients, range(args.repeat)):
        for b in batches if r % 2 == 0 else batches[::-1]:  # alternate which runs first
            node = NodeProcess(setup, path, tmp, args.rate_per_ip, args.rate_per_channel, batch_max=b)
            try:
                for p in payers[:c]:
                    p.url = node.url
                    if p.terms is None:  # once: a 402 does not reveal the amount paid so far
                        p.fetch_terms()
                rows.append(run_paying(node, payers[:c], args.duration))
                log(f"paying, {c} clients, --batch-max {b}: {rows[-1].qps:.0f} q/s, mean batch "
                    f"{rows[-1].mean_batch:.2f}, p50 {pct(rows[-1].latencies, 50):.2f} ms, "
                    f"p99 {pct(rows[-1].latencies, 99):.2f} ms")
                if not floor:
                    rows.append(_binary_row(node, payers[0], args.duration))
                    floor = http_floor(payers[0])
            finally:
                text = stopped_text(node)
                stopped = stopped or text
    return rows, floor, stopped


def _binary_row(node: NodeProcess, payer: Payer, duration: float) -> LoadResult:
    """One client in the binary wire forms."""
    payer.binary = True
    try:
        row = run_paying(node, [payer], duration)
    finally:
        payer.binary = False
    log(f"paying, 1 client, binary: p50 {pct(row.latencies, 50):.2f} ms")
    return row


def measure_floods(args: argparse.Namespace, path: Path, payers: list[Payer], flooder: Flooder,
                   setup: Setup, tmp: Path) -> tuple[LoadResult, list[FloodResult], str]:
    """On a node with the flood phases' per-IP limit: the paying load alone (the reference),
    then under the unpaid flood, then under the forged one."""
    node = NodeProcess(setup, path, tmp, args.flood_rate_per_ip, args.rate_per_channel,
                       batch_max=int(args.batch_max.split(",")[0]))
    sampler = RssSampler(node.pid)
    try:
        for p in payers:
            p.url = node.url
        ref = run_paying(node, payers, args.duration)
        log(f"unflooded, {len(payers)} clients: {ref.qps:.0f} q/s, p99 {pct(ref.latencies, 99):.2f} ms")
        floods = run_floods(args, node, payers, flooder, sampler, ref, payers[0].inputs)
    finally:
        sampler.stop()
        stopped = stopped_text(node)
    return ref, floods, stopped


def run_floods(args: argparse.Namespace, node: NodeProcess, payers: list[Payer], flooder: Flooder,
               sampler: RssSampler, ref: LoadResult, inputs: np.ndarray) -> list[FloodResult]:
    """The unpaid flood, then the forged one, each at flood-factor × the reference rate."""
    terms = payers[0].terms
    if terms is None:
        raise RuntimeError("no terms")
    requests = flood_requests(node.port, terms.model_id, terms, inputs[0])
    sources = tuple(f"127.0.0.{2 + i}" for i in range(args.flood_sources))
    rate = args.flood_factor * ref.qps
    out = []
    for kind in ("unpaid", "forged"):
        out.append(run_flood(node, payers, flooder, sampler, kind, requests[kind], rate, args.duration,
                             sources))
        f = out[-1]
        log(f"flood {kind}: {f.sent:,} sent, 402 {f.share('402'):.0%}, 429 {f.share('429'):.0%}; paying "
            f"p99 {pct(f.paying.latencies, 99):.2f} ms (unflooded {pct(ref.latencies, 99):.2f}); RSS "
            f"{f.rss_before:.0f}/{f.rss_during:.0f}/{f.rss_after:.0f} MB")
    return out


if __name__ == "__main__":
    main()
