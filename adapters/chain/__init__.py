"""The chain adapter: compile, deploy and call GhostCredit, GhostRegistry and CreditEscrow
on the embedded eth-tester EVM, on Anvil, or on any chain by RPC URL.

The roles call :func:`read_registered_model` (verify, audit, fetch) and the clients in
``registry`` and ``escrow``; the CLI commands are in ghostproof/cli/chain.py.
"""

from __future__ import annotations

from .anchor import check_ghost_root, read_registered_model
from .registry import RegisteredModel

__all__ = ["RegisteredModel", "check_ghost_root", "read_registered_model"]
