"""``ghostproof serve MODEL_DIR --model-id ID``: run a prover node (docs/NODE.md).

The command parses its options, picks the signing key as every command does
(``cli_chain.signing_account``), calls ``prover.node.boot.open_node`` (which refuses to start,
with one line, on an unreachable chain, a ghostRoot that is not the registered one, or a
key that is not the registered prover; it rotates a trained directory the chain is behind)
and serves until SIGTERM or Ctrl-C; ``--train`` sells training. Registered by
cli/main.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import chain as cli_chain
from .console import err
from .extras import needs_extra

DbOpt = Annotated[
    Path | None, typer.Option("--db", help="The node's SQLite ledger (default: MODEL_DIR/node.sqlite).")
]
RateOpt = Annotated[str, typer.Option(help="A rate limit (limits notation, e.g. 50/second).")]


@needs_extra("serve")
def serve_cmd(
    model_dir: Annotated[Path, typer.Argument(help="The model directory (with ghost.json).")],
    model_id: Annotated[int, typer.Option("--model-id", help="The registered model id.")],
    rpc: cli_chain.RpcOpt = None,
    deployment: cli_chain.DeploymentOpt = None,
    keystore: cli_chain.KeystoreOpt = None,
    dev: cli_chain.DevAccountOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    db: DbOpt = None,
    margin: Annotated[int, typer.Option(min=0, help="Seconds the node needs to get a redeem mined.")] = 300,
    redeem_every: Annotated[float, typer.Option(min=1, help="Redeem every N seconds.")] = 3600.0,
    max_proofs: Annotated[int, typer.Option(min=1, help="Forward passes at once.")] = 2,
    max_queue: Annotated[int, typer.Option(min=0, help="Requests waiting for a forward pass.")] = 16,
    batch_max: Annotated[
        int, typer.Option(min=1, help="Queries proven together at most (one HNSW search per layer for "
                                      "the queries ready while the forward passes are busy); 1: none.")
    ] = 16,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="Milliseconds a free forward pass waits for more queries "
                                        "before proving a batch (0: no added wait).")
    ] = 0.0,
    rate_per_ip: RateOpt = "50/second",
    rate_per_channel: RateOpt = "20/second",
    train: Annotated[
        bool, typer.Option("--train/--no-train",
                           help="Sell training (POST /v1/models/ID/train, priced like a query); "
                                "the model must declare an update rule.")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log",
                           help="Log every HTTP request (costly under a flood; /metrics counts them).")
    ] = False,
) -> None:
    """Serve MODEL_DIR's model for pay over HTTP (x402 v2 vouchers on the CreditEscrow).

    The key is --keystore (password from $GHOSTPROOF_KEYSTORE_PASSWORD or a prompt) or
    --dev-account N on a local chain; it must be the model's registered prover. A model
    directory ahead of the chain (trained, not yet rotated) is rotated before serving.
    """
    from ghostproof.prover.node.boot import open_node, serve
    from ghostproof.prover.node.config import NodeConfig

    config = NodeConfig(margin=margin, redeem_every=redeem_every, max_proofs=max_proofs,
                        max_queue=max_queue, batch_max=batch_max, batch_wait=batch_wait_ms / 1000,
                        rate_per_ip=rate_per_ip, rate_per_channel=rate_per_channel,
                        channel_ttl=min(5.0, margin / 4) if margin else 5.0, train=train)
    chain, dep = cli_chain._connect_checked(rpc, deployment)
    account = cli_chain.signing_account(chain, keystore, dev)
    service = open_node(model_dir, model_id, chain, dep, account, config, db)
    err.print(f"serving model {model_id} as {account.address} on http://{host}:{port} "
              f"(chain {dep.chain_id}, escrow {dep.escrow})", markup=False, soft_wrap=True)
    serve(service, host, port, access_log=access_log)


def register(app: typer.Typer) -> None:
    """Add ``ghostproof serve`` to the top-level app."""
    app.command("serve")(serve_cmd)
