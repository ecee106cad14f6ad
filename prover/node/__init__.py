"""The prover's node: serve a committed model over HTTP, paid with vouchers (DESIGN §7).

One concern per module:

- ``config``   — every bound and schedule, with its default (``NodeConfig``);
- ``app``      — the FastAPI handlers: parse, call the service, render;
- ``service``  — one paid query, in cost order, from request to recorded answer;
- ``gate``     — the payment checks (x402 v2 headers, voucher, channel, amount);
- ``ledger``   — the durable SQLite record of accepted vouchers and their answers;
- ``channels`` — channel states through a bounded cache, the chain clock;
- ``redeemer`` — redemption on a schedule, at start and stop, before withdrawals fall due;
- ``throttle`` — rate limits, one request per channel, the bounded proof queue;
- ``metrics``  — the Prometheus metrics;
- ``boot``     — the start-up refusals, wiring, uvicorn.

``Prover.prove`` (prover/prove.py) never sees a voucher. docs/NODE.md is the user's guide.
"""
