"""Connecting to a chain: the embedded eth-tester EVM, or any JSON-RPC node (Anvil, a testnet).

A ``Chain`` is the handle every client takes: a Web3 instance plus what kind of chain it
is. ``rpc_errors`` turns transport failures into ChainUnreachableError. ``serialized``
shares an embedded chain between threads of one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ProviderConnectionError, TimeExhausted, Web3RPCError

from ghostproof.protocol.errors import (
    ChainUnreachableError,
    RpcUrlError,
    TransactionTimeoutError,
    WrongChainError,
)

if TYPE_CHECKING:  # eth-tester (py-evm) comes with the prover extra only: imported lazily
    from eth_tester import EthereumTester

LOCAL_CHAIN_ID = 31337  # Anvil / Hardhat dev chains
RPC_TIMEOUT_S = 15


@dataclass
class Chain:
    """A connected chain. ``tester`` is set for the embedded EVM, ``rpc_url`` for a node."""

    w3: Web3
    rpc_url: str | None = None
    tester: EthereumTester | None = None

    @property
    def chain_id(self) -> int:
        """The chain id the node reports."""
        with rpc_errors(self):
            return int(self.w3.eth.chain_id)

    @property
    def is_embedded(self) -> bool:
        """True for the in-process eth-tester chain."""
        return self.tester is not None

    @property
    def is_local(self) -> bool:
        """True for chains whose dev conveniences (dev accounts, time travel) are allowed."""
        return self.is_embedded or self.chain_id == LOCAL_CHAIN_ID

    def describe(self) -> str:
        """One-word description for messages: "embedded" or the RPC URL."""
        return "embedded chain" if self.is_embedded else f"RPC {self.rpc_url}"

    def advance_time(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block (dev chains only)."""
        if not self.is_local:
            raise WrongChainError("time travel is only possible on a local dev chain")
        if self.tester is not None:
            now = self.w3.eth.get_block("latest")["timestamp"]
            self.tester.time_travel(now + seconds)
        else:
            with rpc_errors(self):
                self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
                self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def embedded_chain() -> Chain:
    """A fresh in-process EVM (eth-tester on py-evm), its test accounts pre-funded.

    For the demo and the tests: eth-tester comes with the prover extra, so a light install
    raises ModuleNotFoundError here (the CLI turns it into MissingExtraError).
    """
    from eth_tester import EthereumTester, PyEVMBackend

    tester = EthereumTester(PyEVMBackend())
    return Chain(w3=Web3(EthereumTesterProvider(tester)), tester=tester)


class _SerialTesterProvider(EthereumTesterProvider):
    """eth-tester's provider with every request made under ``lock``."""

    def __init__(self, tester: EthereumTester, lock: AbstractContextManager[object]) -> None:
        super().__init__(tester)
        self._lock = lock

    def make_request(self, method: Any, params: Any) -> Any:
        with self._lock:
            return super().make_request(method, params)


def serialized(chain: Chain, lock: AbstractContextManager[object]) -> Chain:
    """A second handle on the embedded ``chain`` whose every request holds ``lock``.

    eth-tester is not thread-safe: a process where two parties share one embedded chain (the
    demo's wallet beside its node, which calls it under its own lock) gives the second party
    this handle with the first one's lock. Same EVM, same state; WrongChainError for a chain
    that is not embedded (a JSON-RPC node needs no lock)."""
    if chain.tester is None:
        raise WrongChainError("only the embedded chain is shared in-process")
    return Chain(w3=Web3(_SerialTesterProvider(chain.tester, lock)), tester=chain.tester)


def connect(rpc_url: str) -> Chain:
    """Connect to the JSON-RPC node at ``rpc_url``; RpcUrlError if it is not an http(s) URL,
    ChainUnreachableError if it does not answer."""
    if not rpc_url.startswith(("http://", "https://")):
        raise RpcUrlError(f"RPC URL {rpc_url!r} must start with http:// or https://")
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    chain = Chain(w3=w3, rpc_url=rpc_url)
    _ = chain.chain_id  # raises ChainUnreachableError when down
    return chain


@contextmanager
def rpc_errors(chain: Chain) -> Iterator[None]:
    """Translate transport failures of ``chain`` into ChainUnreachableError, and a receipt
    that never came into TransactionTimeoutError."""
    try:
        yield
    except TimeExhausted as exc:
        raise TransactionTimeoutError(f"{chain.describe()}: {exc}") from exc
    except (requests.exceptions.RequestException, ProviderConnectionError, OSError) as exc:
        raise ChainUnreachableError(
            f"{chain.describe()} is not reachable ({type(exc).__name__})"
        ) from exc
    except Web3RPCError as exc:
        if getattr(exc, "data", None) is not None or "revert" in str(exc).lower():
            raise
        raise ChainUnreachableError(f"{chain.describe()} answered with an error: {exc}") from exc
