"""The node's settings and their defaults: what ``ghostproof serve`` takes as options.

One frozen dataclass, so every bound the node enforces is named in one place (docs/NODE.md
lists them). Used by every module of ghostproof.prover.node.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600
DB_NAME = "node.sqlite"


@dataclass(frozen=True)
class NodeConfig:
    """Bounds and schedules of one node. Times are seconds."""

    #: Seconds the node needs to get a redeem mined: a voucher is refused once the channel's
    #: withdrawal falls due within this margin (check_voucher's ``margin``).
    margin: int = 300
    #: Redeem every channel's latest unredeemed voucher this often.
    redeem_every: float = 3600.0
    #: Look for new WithdrawalRequested events (and pending withdrawals) this often.
    watch_every: float = 5.0
    #: A channel read from the chain is trusted this long (must be well under ``margin``) …
    channel_ttl: float = 5.0
    #: … and at most this many channels are cached.
    channel_cache_size: int = 10_000
    #: Forward passes run at once (worker threads) …
    max_proofs: int = 2
    #: … and requests that may wait for one; more are answered 429 at once.
    max_queue: int = 16
    #: How long a queued request waits for a forward pass before 429.
    queue_timeout: float = 10.0
    #: Batching (batcher.py): the paid queries ready to be proven while every forward pass is
    #: busy are proven together, at most this many in one ``Prover.prove_batch`` (one HNSW
    #: search per layer for all of them). Then ``max_proofs`` counts batches, and up to
    #: ``max_proofs × batch_max`` requests hold a proof slot. 1: no batching (each query alone).
    batch_max: int = 16
    #: Seconds a free worker waits for more queries before it proves a batch; 0 (the default)
    #: adds no wait: a batch is what queued while the workers were busy.
    batch_wait: float = 0.0
    #: How long a request waits while its channel serves another request, before 429.
    channel_wait: float = 2.0
    #: Rate limits (``limits`` notation): per client IP address, and per payment channel.
    rate_per_ip: str = "50/second"
    rate_per_channel: str = "20/second"
    #: Request bodies larger than this are refused (413) before they are parsed; 0 means
    #: "derived from the model's input size".
    max_body: int = 0
    #: Sell training (``POST /v1/models/{id}/train``, ``serve --train``): off by default.
    train: bool = False

    def __post_init__(self) -> None:
        if self.margin < 0 or (self.margin and self.channel_ttl * 2 > self.margin):
            raise ValueError("the channel cache TTL must be under half the redeem margin")
        if self.max_proofs < 1 or self.max_queue < 0 or self.channel_cache_size < 1:
            raise ValueError("max_proofs and channel_cache_size must be ≥ 1, max_queue ≥ 0")
        if self.batch_max < 1 or self.batch_wait < 0:
            raise ValueError("batch_max must be ≥ 1 and batch_wait ≥ 0")

    @property
    def proof_slots(self) -> int:
        """Requests that may be in a forward pass at once: ``max_proofs`` batches of up to
        ``batch_max`` queries."""
        return self.max_proofs * self.batch_max


def body_limit(config: NodeConfig, d_in: int) -> int:
    """The largest request body accepted for a model of input size ``d_in``: the JSON form of
    ``d_in`` float32 numbers (at most ~16 characters each) plus room for the keys and nonce."""
    return config.max_body or 32 * d_in + 4096
