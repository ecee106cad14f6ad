"""The chain adapter: compile, deploy and call GhostCredit, GhostRegistry and CreditEscrow
on the embedded eth-tester EVM, on Anvil, or on any chain by RPC URL.

The rest of ghostproof calls :func:`read_registered_model` (verify, audit) and
:func:`embedded_anchor` (demo); the CLI commands are in ghostproof/cli_chain.py.
"""

from __future__ import annotations

from .anchor import AnchorResult, check_ghost_root, embedded_anchor, read_registered_model
from .registry import RegisteredModel

__all__ = [
    "AnchorResult",
    "RegisteredModel",
    "check_ghost_root",
    "embedded_anchor",
    "read_registered_model",
]
