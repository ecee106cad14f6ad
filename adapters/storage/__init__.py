"""IPFS adapter: block stores (local folder, in-process Kubo, Kubo RPC), CAR v1, publish/fetch/audit.

Kept apart from the pure ``protocol`` core; the CLI commands live in ghostproof/cli_ipfs.py.
"""
