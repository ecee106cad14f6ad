"""The node's HTTP API over real HTTP: models, ghost file, health, readiness, metrics,
OpenAPI, an unpaid query (402 with terms) and paid queries in both encodings, verified."""

from __future__ import annotations

import time

import httpx
import numpy as np

from ghostproof.adapters.chain.escrow import channel, request_withdrawal
from ghostproof.protocol.ghost import parse_ghost
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_RESPONSE_HEADER,
    Settlement,
    decode_payment_required,
)
from ghostproof.protocol.request import request_to_json
from ghostproof.protocol.response import Request
from ghostproof.protocol.response_json import loads_response
from ghostproof.protocol.response_wire import decode_binary
from ghostproof.verifier.verify import Expected, verify

from .conftest import DEPOSIT, PRICE, Node


def test_health_and_ready(node: Node):
    assert httpx.get(f"{node.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{node.url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"model": True, "chain": True, "database": True}


def test_models_lists_the_registered_model(node: Node):
    (model,) = httpx.get(f"{node.url}/v1/models").json()["models"]
    assert model["id"] == str(node.model_id)
    assert model["prover"] == node.prover.address
    assert model["price"] == str(PRICE)
    assert model["chain"] == f"eip155:{node.chain.chain_id}"
    assert model["escrow"] == node.deployment.escrow
    assert model["ghostCid"].startswith("bafkrei")
    ghost = httpx.get(f"{node.url}/v1/models/{node.model_id}/ghost")
    assert ghost.status_code == 200
    assert "0x" + parse_ghost(ghost.content).ghost_root.hex() == model["ghostRoot"]


def test_invalid_unknown_model_is_404(node: Node):
    r = httpx.get(f"{node.url}/v1/models/{node.model_id + 1}/ghost")
    assert r.status_code == 404 and r.json()["error"] == "UnknownModelError"


def test_unpaid_query_gets_402_with_terms(node: Node):
    req = Request(node.model_id, np.ones(16, np.float32), bytes(32))
    r = httpx.post(f"{node.url}/v1/models/{node.model_id}/query", json=request_to_json(req))
    assert r.status_code == 402
    assert r.json()["error"] == "VoucherError" and r.json()["field"] == "PAYMENT-SIGNATURE"
    terms, _ = decode_payment_required(r.headers[PAYMENT_REQUIRED_HEADER])
    assert (terms.chain_id, terms.escrow, terms.credit) == (
        node.chain.chain_id, node.deployment.escrow, node.deployment.credit)
    assert (terms.prover, terms.model_id, terms.price) == (node.prover.address, node.model_id, PRICE)
    assert (terms.epoch, terms.last_accepted) == (0, 0)


def _check_answer(node: Node, response, request: Request) -> None:
    ghost = parse_ghost(httpx.get(f"{node.url}/v1/models/{node.model_id}/ghost").content)
    verify(response, ghost, ghost.ghost_root,
           Expected(model_id=node.model_id, chain_id=node.chain.chain_id,
                    verifying_contract=node.deployment.registry, prover=node.prover.address,
                    request=request))
    assert response.request.hash == request.hash


def test_paid_queries_end_to_end(node: Node):
    client = node.client()
    for i in range(3):
        request = client.request()
        r = client.pay(request)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        _check_answer(node, loads_response(r.content), request)
        settled = Settlement.from_header(r.headers[PAYMENT_RESPONSE_HEADER])
        assert (settled.payer, settled.accepted, settled.epoch) == (client.account.address,
                                                                    (i + 1) * PRICE, 0)
        assert settled.deposit_left == DEPOSIT - (i + 1) * PRICE
    assert node.service.ledger.last_accepted(client.account.address, 0).amount == 3 * PRICE


def test_paid_query_binary_both_ways(node: Node):
    client = node.client()
    request = client.request()
    r = client.pay(request, binary=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    _check_answer(node, decode_binary(r.content), request)


def test_retry_after_a_lost_reply_is_not_charged_twice(node: Node):
    client = node.client()
    first = client.pay()
    assert first.status_code == 200
    request, headers = client.last
    again = client.post(request, headers)
    assert again.status_code == 200
    assert again.content == first.content
    assert Settlement.from_header(again.headers[PAYMENT_RESPONSE_HEADER]).accepted == PRICE
    assert node.service.ledger.last_accepted(client.account.address, 0).amount == PRICE
    assert client.pay().status_code == 200  # the next voucher is last + price, as if once
    assert node.service.ledger.last_accepted(client.account.address, 0).amount == 2 * PRICE


def test_withdrawal_request_makes_the_node_redeem_at_once(node: Node):
    client = node.client()
    for _ in range(2):
        assert client.pay().status_code == 200
    with node.service.view.lock:
        request_withdrawal(node.chain, node.deployment, client.account, node.prover.address)
    for _ in range(100):  # the watcher looks every 0.2 s
        with node.service.view.lock:
            state = channel(node.chain, node.deployment, client.account.address, node.prover.address)
        if state.redeemed == 2 * PRICE:
            break
        time.sleep(0.1)
    assert state.redeemed == 2 * PRICE and state.withdrawable_at > 0


def test_metrics(node: Node):
    client = node.client()
    assert client.pay().status_code == 200
    text = httpx.get(f"{node.url}/metrics").text
    for name in ('ghostproof_queries_total{outcome="paid"}',
                 'ghostproof_queries_total{outcome="payment_required"}',
                 "ghostproof_request_seconds_bucket", "ghostproof_prove_seconds_count",
                 "ghostproof_credits_earned_total", "ghostproof_credits_redeemed_total",
                 "ghostproof_open_channels"):
        assert name in text, name


def test_openapi(node: Node):
    spec = httpx.get(f"{node.url}/openapi.json").json()
    paths = spec["paths"]
    for path in ("/health", "/ready", "/metrics", "/v1/models", "/v1/models/{model_id}/ghost"):
        assert "get" in paths[path]
    query = paths["/v1/models/{model_id}/query"]["post"]
    assert set(query["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert {"200", "400", "402", "413", "422", "429"} <= set(query["responses"])
    headers = {p["name"] for p in query["parameters"] if p["in"] == "header"}
    assert {"PAYMENT-SIGNATURE", "X-GHOSTPROOF-CLIENT"} <= headers
