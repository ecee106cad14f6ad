"""The pure core of ghostproof: formats, hashing, Merkle multiproofs, quantisation and layer math.

Nothing here touches the network, a chain or the filesystem; prover, verifier and the
adapters all build on it. DESIGN.md is the protocol; docs/PROTOCOL.md fixes every byte.
"""
