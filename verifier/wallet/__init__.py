"""The client wallet (verifier role, light install): a key in an encrypted keystore, a
durable ledger of the vouchers it signs, credits and escrow channels on the chain, and a
client that pays a prover node per query and accepts only answers it verified itself.

    from ghostproof.verifier.wallet import Wallet
    wallet = Wallet.open(home, password)
    answer = wallet.client(node_url, rpc=rpc, deployment=path).query(model_id, x)

Modules, one concern each: home (the folder and the keystore), ledger (SQLite), credits
(chain operations), node (HTTP transport), client (the payment loop and verification),
archive (answers and evidence kept), wallet (this API). docs/WALLET.md describes them.
"""

from __future__ import annotations

from .client import Answer, Client
from .home import WalletHome
from .ledger import ChannelKey, Ledger
from .wallet import Wallet

__all__ = ["Answer", "ChannelKey", "Client", "Ledger", "Wallet", "WalletHome"]
