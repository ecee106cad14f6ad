"""The node's Prometheus metrics (``GET /metrics``), all named ``ghostproof_*``.

One registry per node (not the process-wide default), so several nodes in one process (the
tests) do not collide. Credits are counted in whole credits (base units / 10^18) as
Prometheus values are floats. Used by the service (queries, rejections, latencies, batch sizes, credits
earned), the redeemer (credits redeemed) and the app (rendering).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ghostproof.adapters.chain.deployment import ONE_CREDIT

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)


class Metrics:
    """Counters, histograms and gauges of one node."""

    def __init__(self, open_channels: Callable[[], float]):
        """``open_channels`` is read at every scrape (the ledger's count)."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queries = Counter("ghostproof_queries", "Queries by outcome (paid, replayed, "
                               "payment_required, rejected, overloaded, bad_request, error)",
                               ["outcome"], registry=r)
        self.rejections = Counter("ghostproof_payment_rejections", "Payments refused, by reason",
                                  ["reason"], registry=r)
        self.request_seconds = Histogram("ghostproof_request_seconds", "Query request latency",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.prove_seconds = Histogram("ghostproof_prove_seconds", "Forward pass and proof latency "
                                       "(per query: its batch's time)", buckets=_LATENCY_BUCKETS,
                                       registry=r)
        self.batch_size = Histogram("ghostproof_batch_size", "Queries proven together in one "
                                    "forward-pass batch (1 without batching)", buckets=_BATCH_BUCKETS,
                                    registry=r)
        self.earned = Counter("ghostproof_credits_earned", "Credits accepted in vouchers",
                              registry=r)
        self.redeemed = Counter("ghostproof_credits_redeemed", "Credits redeemed on-chain",
                                registry=r)
        self.redeem_failures = Counter("ghostproof_redeem_failures", "Redeems that failed "
                                       "(retried at the next round)", registry=r)
        gauge = Gauge("ghostproof_open_channels", "Channel epochs with accepted vouchers, not closed",
                      registry=r)
        gauge.set_function(open_channels)

    def earn(self, units: int) -> None:
        """Count ``units`` credit base units accepted."""
        self.earned.inc(units / ONE_CREDIT)

    def redeem(self, units: int) -> None:
        """Count ``units`` credit base units redeemed."""
        self.redeemed.inc(units / ONE_CREDIT)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
