"""adapters/chain/provider.py: a serialized handle shares one embedded chain between threads."""

from __future__ import annotations

import threading

import pytest
from web3 import Web3

from ghostproof.adapters.chain.provider import Chain, embedded_chain, serialized
from ghostproof.protocol.errors import WrongChainError


def test_serialized_handle_sees_the_same_chain() -> None:
    chain = embedded_chain()
    shared = serialized(chain, threading.Lock())
    w3 = chain.w3
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 7})
    )
    assert shared.is_embedded and shared.chain_id == chain.chain_id
    assert shared.w3.eth.block_number == w3.eth.block_number
    assert shared.w3.eth.get_balance(w3.eth.accounts[1]) == w3.eth.get_balance(w3.eth.accounts[1])


def test_serialized_requests_wait_for_the_lock() -> None:
    lock = threading.Lock()
    shared = serialized(embedded_chain(), lock)
    read: list[int] = []
    with lock:
        reader = threading.Thread(target=lambda: read.append(shared.w3.eth.block_number))
        reader.start()
        reader.join(timeout=0.5)
        assert reader.is_alive() and not read  # blocked while another party holds the lock
    reader.join(timeout=10)
    assert read and read[0] >= 0


def test_invalid_serialized_rpc_chain() -> None:
    with pytest.raises(WrongChainError):
        serialized(Chain(w3=Web3(), rpc_url="http://127.0.0.1:1"), threading.Lock())
