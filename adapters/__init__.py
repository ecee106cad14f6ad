"""Adapters: everything that talks to the world outside the process — chains (deploy, call,
read) and storage (IPFS block stores, CAR files, the model directory on disk, answer files).

They import only ``ghostproof.protocol``; the prover and verifier roles build on them.
"""
