"""Starting a node: the checks that refuse to start it, and running it under uvicorn.

:func:`open_node` refuses, with one error each, a chain it cannot reach
(ChainUnreachableError), a deployment that is not on it (DeploymentError, WrongChainError),
a model id the registry does not know (UnknownModelError) or that is retired
(ModelRetiredError), a model directory whose ghostRoot is not the one registered for the id
(RootMismatchError), and a key that is not the registered prover (NotRegisteredProverError);
then it loads the model, opens the ledger and wires the service (with its Trainer: training
is sold only with ``NodeConfig.train``); the prover refuses
selections the model's registered ``selectionMargin`` does not cover (prover/margin.py).
A crash in a training is recovered first (the directory's journal rolls the update back or
forward); a directory then *ahead* of the chain — trained, archived, but not rotated — whose
archive links the registered root to its own is rotated, step by step, before the node serves
(training.rotate_pending; it needs the registered prover's key, which the node holds).
:func:`serve` runs the app until SIGTERM or Ctrl-C (uvicorn's graceful shutdown stops the
service, which redeems); :class:`NodeThread` runs it in a thread of the caller's process,
beside its clients. Used by ``ghostproof serve`` (cli/node.py), ``ghostproof demo``
(cli/demo.py) and the tests.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ghostproof.adapters.chain.anchor import check_ghost_root
from ghostproof.adapters.chain.anvil import free_port
from ghostproof.adapters.chain.deployment import Deployment
from ghostproof.adapters.chain.provider import Chain
from ghostproof.adapters.chain.registry import (
    RegisteredModel,
    check_active,
    check_prover_key,
    read_model,
)
from ghostproof.adapters.storage.layout import GHOST_FILE, read_ghost_bytes
from ghostproof.protocol.errors import ExternalError, InputError
from ghostproof.protocol.hashing import to_hex

from ..modeldir import load_model_dir, make_prover
from ..rotate import pending_transitions
from ..update import recover_update
from .channels import ChainView
from .config import DB_NAME, DEFAULT_HOST, DEFAULT_PORT, NodeConfig
from .ledger import Ledger
from .metrics import Metrics
from .redeemer import Redeemer
from .service import NodeService
from .training import Trainer, rotate_pending

log = logging.getLogger("ghostproof.node")


def open_node(model_dir: Path, model_id: int, chain: Chain, deployment: Deployment,
              account: LocalAccount, config: NodeConfig | None = None,
              db_path: Path | None = None, *, exact: bool = False) -> NodeService:
    """A node serving ``model_dir`` as registered model ``model_id``, signing and redeeming as
    ``account``; refuses (see the module docstring) before loading any weights."""
    config = config or NodeConfig()
    registered = read_model(chain, deployment, model_id)
    check_active(registered)
    recover_update(model_dir)  # a training a crash interrupted: finish or undo it first
    registered = _catch_up(model_dir, registered, chain, deployment, account)
    ghost_bytes, _ = read_ghost_bytes(model_dir / GHOST_FILE)
    md = load_model_dir(model_dir)
    prover = make_prover(md, exact=exact, model_id=model_id, chain_id=deployment.chain_id,
                         verifying_contract=deployment.registry, private_key=bytes(account.key))
    # Refuse (503, no charge) a selection a challenge under the registered margin could beat.
    prover.selection_margin = registered.margin
    identity = {"modelId": str(model_id), "prover": account.address,
                "chainId": str(deployment.chain_id), "escrow": deployment.escrow}
    ledger = Ledger(db_path or model_dir / DB_NAME, identity)
    view = ChainView(chain, deployment, account.address, ttl=config.channel_ttl,
                     size=config.channel_cache_size)
    metrics = Metrics(ledger.open_channels)
    redeemer = Redeemer(view, ledger, account, config, metrics, start_block=view.head()[0])
    trainer = Trainer(md, prover, deployment, account, view.calling, enabled=config.train)
    return NodeService(prover=prover, registered=registered, ghost_bytes=ghost_bytes, view=view,
                       ledger=ledger, redeemer=redeemer, metrics=metrics, config=config, trainer=trainer)


def _catch_up(model_dir: Path, registered: RegisteredModel, chain: Chain, deployment: Deployment,
              account: LocalAccount) -> RegisteredModel:
    """The model as registered once the directory's pending versions are rotated (none when
    its ghostRoot is the registered one). RootMismatchError when it differs and the archive
    does not lead there from the registered root; NotRegisteredProverError for another key."""
    ghost = read_ghost_bytes(model_dir / GHOST_FILE)[1]
    if ghost.ghost_root != registered.ghost_root:
        try:
            pending_transitions(model_dir, registered.ghost_root)
        except InputError:
            check_ghost_root(registered, ghost)  # raises RootMismatchError, the usual refusal
            raise
        check_prover_key(registered.model_id, registered.prover, account.address)
        for rotation in rotate_pending(model_dir, lambda: contextlib.nullcontext(chain), deployment,
                                       account, registered.model_id):
            log.warning("model %d was ahead of the chain: rotated to version %d (ghostRoot %s)",
                        rotation.model_id, rotation.version, to_hex(rotation.new_root))
        registered = read_model(chain, deployment, registered.model_id)
    check_prover_key(registered.model_id, registered.prover, account.address)
    return registered

def serve(service: NodeService, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          log_level: str = "info", *, access_log: bool = False) -> None:
    """Run the node's HTTP API until SIGTERM / Ctrl-C (then the service stops and redeems).

    uvicorn re-raises the signal it caught once it has shut down; the SIGTERM handler set here
    (which uvicorn restores then) turns that into a clean exit, status 0. The per-request
    access log is off unless ``access_log`` (under a flood it costs the paying clients a
    third of their p99; bench_node measured 2.4× → 1.7× of the unflooded p99 without it)."""
    import uvicorn

    from .app import create_app

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(create_app(service), host=host, port=port, log_level=log_level,
                access_log=access_log, timeout_graceful_shutdown=30)


class NodeThread:
    """``service``'s HTTP API served by uvicorn in a background thread of this process, on a
    free port of ``host``: a node beside its clients in one process (the demo, the tests on
    the embedded chain). Started when constructed (ExternalError if it does not start within
    ``start_timeout`` seconds); :meth:`stop` shuts it down gracefully, like SIGTERM (the
    service redeems)."""

    def __init__(self, service: NodeService, host: str = DEFAULT_HOST, *,
                 start_timeout: float = 30.0) -> None:
        import uvicorn

        from .app import create_app

        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(create_app(service), host=host, port=self.port, log_level="warning",
                                lifespan="on", timeout_graceful_shutdown=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ghostproof-node", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise ExternalError(f"the node did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Graceful shutdown: requests in flight finish, the service stops and redeems."""
        self.server.should_exit = True
        self.thread.join(timeout=60)


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)
