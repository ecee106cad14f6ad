"""Redemption: turning accepted vouchers into credits on-chain, before they can be lost.

A channel's latest accepted voucher is redeemed (``CreditEscrow.redeem``):

- on a schedule (every ``redeem_every`` seconds), and once more when the node stops;
- at start, reconciling with the chain: what the chain already holds redeemed is only
  recorded, never sent again (a node killed between a mined redeem and its record resumes
  cleanly), and a closed epoch is recorded as closed;
- before a client's withdrawal can fall due: the watcher reads the escrow's
  ``WithdrawalRequested`` events for this prover every ``watch_every`` seconds (from the
  block after the last one it scanned, kept in the ledger) and redeems the channel at once;
  the payment gate reports the pending withdrawals it sees too. While a withdrawal is
  pending, the channel's newer vouchers are redeemed from ``2 · margin`` seconds before it
  falls due; the gate accepts none in the last ``margin`` seconds, which is the time left
  to get the final redeem mined.

Everything here runs in one background thread (or the caller's, at start and stop); every
chain call goes through :class:`ChainView`. Used by the service.
"""

from __future__ import annotations

import logging
import threading
import time

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain import escrow
from ghostproof.protocol.errors import GhostproofError
from ghostproof.protocol.voucher import Voucher

from .channels import ChainView
from .config import NodeConfig
from .ledger import Accepted, Ledger
from .metrics import Metrics

log = logging.getLogger("ghostproof.node")
LAST_BLOCK_KEY = "withdrawals_scanned_to"


class Redeemer:
    """Redeems the vouchers in ``ledger`` as ``account`` (the registered prover)."""

    def __init__(self, view: ChainView, ledger: Ledger, account: LocalAccount, config: NodeConfig,
                 metrics: Metrics, start_block: int):
        self.view = view
        self.ledger = ledger
        self.account = account
        self.config = config
        self.metrics = metrics
        self.start_block = start_block
        self.pending: dict[str, int] = {}  # client → withdrawableAt
        self._pending_lock = threading.Lock()
        self._redeem_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ one voucher

    def redeem(self, accepted: Accepted) -> int:
        """Redeem one accepted voucher unless the chain already holds it; return the credits
        this call moved (0 when there was nothing to send)."""
        state = self.view.channel(accepted.client, fresh=True)
        if state.epoch != accepted.epoch:
            if state.epoch > accepted.epoch:
                self.ledger.mark_closed(accepted.client, accepted.epoch)
                log.error("channel of %s closed epoch %d with voucher %d unredeemed",
                          accepted.client, accepted.epoch, accepted.amount)
            return 0
        if state.redeemed >= accepted.amount:
            self.ledger.mark_redeemed(accepted.client, accepted.epoch, state.redeemed)
            return 0
        voucher = Voucher(accepted.client, self.account.address, accepted.epoch, accepted.amount,
                          self.view.deployment.chain_id, self.view.deployment.escrow)
        with self.view.calling() as chain:
            escrow.redeem(chain, self.view.deployment, self.account, voucher, accepted.signature)
        self.ledger.mark_redeemed(accepted.client, accepted.epoch, accepted.amount)
        self.view.forget(accepted.client)
        moved = accepted.amount - state.redeemed
        self.metrics.redeem(moved)
        log.info("redeemed %d on the channel of %s (epoch %d)", accepted.amount, accepted.client,
                 accepted.epoch)
        return moved

    def redeem_all(self, client: str | None = None) -> int:
        """Redeem every unredeemed latest voucher (of ``client`` only, if given); a failure is
        logged, counted and retried at the next round. Returns the credits moved."""
        moved = 0
        with self._redeem_lock:
            for accepted in self.ledger.unredeemed(client):
                try:
                    moved += self.redeem(accepted)
                except GhostproofError as exc:
                    self.metrics.redeem_failures.inc()
                    log.warning("redeem of %s's voucher %d failed: %s", accepted.client,
                                accepted.amount, exc)
        return moved

    # ------------------------------------------------------------------ withdrawals

    def note_withdrawal(self, client: str, withdrawable_at: int) -> None:
        """A withdrawal of ``client``'s channel falls due at ``withdrawable_at``."""
        with self._pending_lock:
            self.pending[client] = withdrawable_at

    def scan(self) -> list[str]:
        """Read new WithdrawalRequested events; return the clients that asked."""
        stored = self.ledger.get_meta(LAST_BLOCK_KEY)
        first = int(stored) + 1 if stored is not None else self.start_block
        last = self.view.head()[0]
        if last < first:
            return []
        with self.view.calling() as chain:
            requests = escrow.withdrawal_requests(chain, self.view.deployment, self.account.address,
                                                  first, last)
        for client, at in requests:
            self.view.forget(client)
            self.note_withdrawal(client, at)
        self.ledger.set_meta(LAST_BLOCK_KEY, str(last))
        return [client for client, _ in requests]

    def watch(self) -> None:
        """One round of the watcher: redeem at once the channels whose client just asked to
        withdraw, and the newer vouchers of those whose withdrawal falls due within 2·margin."""
        for client in dict.fromkeys(self.scan()):
            self.redeem_all(client)
        now = self.view.now()
        with self._pending_lock:
            pending = dict(self.pending)
        for client, at in pending.items():
            if at < now:
                with self._pending_lock:
                    self.pending.pop(client, None)
            elif at <= now + 2 * self.config.margin:
                self.redeem_all(client)

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        """Start the background thread (watcher every ``watch_every``, redeem every
        ``redeem_every``)."""
        self._thread = threading.Thread(target=self._run, name="ghostproof-redeemer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_round = time.monotonic()
        while not self._stop.wait(self.config.watch_every):
            try:
                self.watch()
                if time.monotonic() - last_round >= self.config.redeem_every:
                    last_round = time.monotonic()
                    self.redeem_all()
            except GhostproofError as exc:
                log.warning("redeemer round failed: %s", exc)

    def stop(self) -> None:
        """Stop the thread, then redeem everything still unredeemed (graceful shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.redeem_all()
