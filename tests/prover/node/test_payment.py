"""Payments the node refuses, each changing one thing of a valid paid query, and malformed
bodies and headers: the status, the JSON error naming the field, the terms a 402 carries."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import httpx
import numpy as np
import pytest
from eth_account import Account

from ghostproof.protocol.hashing import to_hex
from ghostproof.protocol.payment import (
    PAYMENT_REQUIRED_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    decode_payment_required,
)
from ghostproof.protocol.request import encode_request, request_to_json
from ghostproof.protocol.response import Request
from ghostproof.protocol.response_json import loads_response
from ghostproof.protocol.voucher import Voucher

from .conftest import PRICE, Node, PayingClient


@pytest.fixture
def client(node: Node) -> PayingClient:
    return node.client()


def _refused(r: httpx.Response, status: int, field: str | None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "message", "field"}
    assert body["field"] == field, body
    return body


def _terms(r: httpx.Response):
    return decode_payment_required(r.headers[PAYMENT_REQUIRED_HEADER])[0]


def _send(client: PayingClient, amount: int, **kwargs) -> httpx.Response:
    request = client.request()
    return client.post(request, {PAYMENT_SIGNATURE_HEADER: client.payment(request, amount, **kwargs)})


def test_invalid_forged_signature(client: PayingClient, node: Node):
    r = _send(client, PRICE, key=Account.create().key)
    _refused(r, 402, "signature")
    assert _terms(r).last_accepted == 0  # nothing is revealed before a valid signature


@pytest.mark.parametrize("field", ["prover", "escrow", "chain_id"])
def test_invalid_voucher_for_another_prover_escrow_or_chain(client: PayingClient, field: str):
    other = {"prover": Account.create().address, "escrow": Account.create().address, "chain_id": 5}
    terms = replace(client.terms, **{field: other[field]})
    r = _send(client, PRICE, terms=terms)
    _refused(r, 402, "accepted")


def test_invalid_voucher_for_another_request(client: PayingClient):
    request, other = client.request(), client.request()
    header = client.payment(other, PRICE)
    _refused(client.post(request, {PAYMENT_SIGNATURE_HEADER: header}), 402, "requestHash")


def test_invalid_voucher_above_the_deposit(node: Node):
    client = node.client(credits=PRICE)
    assert client.pay().status_code == 200
    r = client.pay()
    body = _refused(r, 402, "cumulativeAmount")
    assert "deposit" in body["message"]


def test_invalid_voucher_amount_not_last_plus_price(client: PayingClient):
    r = _send(client, 2 * PRICE)
    body = _refused(r, 402, "cumulativeAmount")
    assert body["lastAccepted"] == "0" and _terms(r).last_accepted == 0


def test_invalid_voucher_of_another_epoch(client: PayingClient):
    t = client.terms
    voucher = Voucher(client.account.address, t.prover, 1, PRICE, t.chain_id, t.escrow)
    _refused(_send(client, PRICE, voucher=voucher), 402, "epoch")


def test_invalid_replayed_voucher_for_another_request(client: PayingClient):
    assert client.pay().status_code == 200
    request = client.request()
    r = client.post(request, {PAYMENT_SIGNATURE_HEADER: client.payment(request, PRICE)})
    body = _refused(r, 402, "cumulativeAmount")
    assert body["lastAccepted"] == str(PRICE)


def test_stale_voucher_gets_a_corrective_402(client: PayingClient):
    answers = [client.pay() for _ in range(3)]
    assert all(r.status_code == 200 for r in answers)
    client.accepted = 0  # the client lost its state
    r = client.pay()
    body = _refused(r, 402, "cumulativeAmount")
    last = loads_response(answers[-1].content)
    assert _terms(r).last_accepted == 3 * PRICE and body["lastAccepted"] == str(3 * PRICE)
    assert r.headers["X-GHOSTPROOF-LAST-RECEIPT"] == to_hex(last.digest()) == body["lastReceipt"]
    assert body["lastRequestHash"] == to_hex(last.request.hash)
    client.accepted = _terms(r).last_accepted  # resynchronised
    assert client.pay().status_code == 200


def test_unpaid_402_names_the_epoch_of_a_given_client(client: PayingClient, node: Node):
    assert client.fetch_terms(node.model_id).epoch == 0


# ---------------------------------------------------------------- malformed requests


def _url(node: Node) -> str:
    return f"{node.url}/v1/models/{node.model_id}/query"


def _request(node: Node, n: int = 16) -> Request:
    return Request(node.model_id, np.ones(n, np.float32), bytes(32))


def test_invalid_body_too_large(node: Node):
    r = httpx.post(_url(node), content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    body = _refused(r, 413, "body")
    assert body["error"] == "RequestTooLargeError"


def test_invalid_body_not_json(node: Node):
    r = httpx.post(_url(node), content=b"{nope", headers={"Content-Type": "application/json"})
    _refused(r, 400, None)


@pytest.mark.parametrize(("key", "value", "status", "field"), [
    ("nonce", "0x12", 400, "nonce"), ("input", [1e40], 400, "input"), ("input", [0.1] * 16, 400, "input"),
    ("input", [1.0] * 15, 422, "input"), ("modelId", 0, 422, "modelId"), ("extra", 1, 400, "body"),
])
def test_invalid_json_fields(node: Node, key, value, status, field):
    obj = {**request_to_json(_request(node)), key: value}
    _refused(httpx.post(_url(node), json=obj), status, field)


def test_invalid_binary_body(node: Node):
    data = encode_request(_request(node))
    r = httpx.post(_url(node), content=data[:-2], headers={"Content-Type": "application/octet-stream"})
    _refused(r, 400, "input")


def test_invalid_content_type(node: Node):
    r = httpx.post(_url(node), content=b"{}", headers={"Content-Type": "text/plain"})
    _refused(r, 400, "Content-Type")


@pytest.mark.parametrize(("header", "status"), [
    ("not base64!", 400), (base64.b64encode(b"{not json").decode(), 400), ("A" * 5000, 413),
    (base64.b64encode(json.dumps({"x402Version": 2}).encode()).decode(), 402),
])
def test_invalid_payment_header(node: Node, header: str, status: int):
    r = httpx.post(_url(node), json=request_to_json(_request(node)),
                   headers={PAYMENT_SIGNATURE_HEADER: header})
    _refused(r, status, "PAYMENT-SIGNATURE")


def test_invalid_client_header(node: Node):
    r = httpx.post(_url(node), json=request_to_json(_request(node)), headers={"X-GHOSTPROOF-CLIENT": "0x12"})
    _refused(r, 400, "X-GHOSTPROOF-CLIENT")


def test_refusals_are_counted(node: Node):
    text = httpx.get(f"{node.url}/metrics").text
    assert 'ghostproof_payment_rejections_total{reason="bad_signature"}' in text
    assert 'ghostproof_queries_total{outcome="bad_request"}' in text
