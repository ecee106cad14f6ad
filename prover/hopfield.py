"""The Hopfield lookup layer as a torch module: dense reference and top-k sparse forward.

``HopfieldLookup`` computes y = Σ_j softmax(beta · c · <x', K_j>)_j · s_V · V_j, over all N
stored patterns (dense, what a plain torch model does) or over the k best (sparse).
:meth:`HopfieldLookup.from_committed` builds the module that computes exactly DESIGN §1
over the quantised weights: x' is the int8 quantised query (round half to even, clip
±127), c = s_K / 127, keys and values are the committed int8 matrices.

Used by scripts/bench.py (the dense baseline) and tests/prover/test_hopfield.py (checked
against protocol.layer). This is the only prover module that imports torch at top level:
torch is an optional dependency (``pip install ghostproof[torch]``).
"""

from __future__ import annotations

import numpy as np
import torch

from ghostproof.protocol.constants import INT8_MAX, Q_SCALE
from ghostproof.protocol.errors import InputError, ModelError


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: ``prefer`` if given, else CUDA when available, else CPU.

    Raises InputError if ``prefer`` is not a device name or names an unavailable CUDA device.
    """
    if prefer is None or prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(prefer)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"{prefer!r} is not a torch device name") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("a CUDA device was requested but CUDA is not available")
    return dev


class HopfieldLookup(torch.nn.Module):
    """One Hopfield lookup layer over N stored patterns.

    ``keys`` (N, d_in) and ``values`` (N, d_out) are stored as buffers in ``dtype``.
    With ``quantise_input`` the input is unit-normalised and quantised to int8 levels
    (DESIGN §1 step 1) before scoring; ``score_scale`` multiplies beta (s_K/127 for a
    committed model), ``value_scale`` multiplies the output (s_V).
    """

    def __init__(
        self,
        keys: torch.Tensor | np.ndarray,
        values: torch.Tensor | np.ndarray,
        beta: float,
        k: int,
        *,
        score_scale: float = 1.0,
        value_scale: float = 1.0,
        quantise_input: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        dev = device if isinstance(device, torch.device) else pick_device(device)
        kt = torch.as_tensor(np.asarray(keys) if isinstance(keys, np.ndarray) else keys)
        vt = torch.as_tensor(np.asarray(values) if isinstance(values, np.ndarray) else values)
        if kt.ndim != 2 or vt.ndim != 2 or kt.shape[0] != vt.shape[0] or kt.shape[0] == 0:
            raise ModelError(
                f"keys {tuple(kt.shape)} and values {tuple(vt.shape)} must be (N, d_in), (N, d_out)"
            )
        if not isinstance(k, int) or not 1 <= k <= kt.shape[0]:
            raise ModelError(f"k must be an integer in 1..N={kt.shape[0]}, got {k!r}")
        if not np.isfinite(beta) or beta <= 0:
            raise ModelError(f"beta must be a positive finite number, got {beta!r}")
        self.register_buffer("keys", kt.to(device=dev, dtype=dtype).contiguous())
        self.register_buffer("values", vt.to(device=dev, dtype=dtype).contiguous())
        self.beta = float(beta)
        self.k = int(k)
        self.score_scale = float(score_scale)
        self.value_scale = float(value_scale)
        self.quantise_input = bool(quantise_input)

    @classmethod
    def from_committed(
        cls,
        key_columns_int8: np.ndarray,
        value_rows_int8: np.ndarray,
        s_k: float,
        s_v: float,
        beta: float,
        k: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> HopfieldLookup:
        """The module computing DESIGN §1 over committed int8 weights (K columns as rows).

        In float64 its dense output equals protocol.layer.reference_layer_forward over all N columns
        (to float rounding), and its sparse selection equals protocol.layer.top_k.
        """
        kc = np.asarray(key_columns_int8)
        vr = np.asarray(value_rows_int8)
        if kc.dtype != np.int8 or vr.dtype != np.int8:
            raise ModelError("committed key columns and value rows must be int8")
        return cls(
            kc.astype(np.float32),
            vr.astype(np.float32),
            beta,
            k,
            score_scale=float(s_k) / Q_SCALE,
            value_scale=float(s_v),
            quantise_input=True,
            device=device,
            dtype=dtype,
        )

    @property
    def n(self) -> int:
        """Number of stored patterns."""
        return int(self.keys.shape[0])

    def _prepare(self, x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
        xt = torch.as_tensor(x).to(device=self.keys.device, dtype=self.keys.dtype)
        single = xt.ndim == 1
        if single:
            xt = xt.unsqueeze(0)
        if xt.ndim != 2 or xt.shape[1] != self.keys.shape[1]:
            raise InputError(
                f"input must be (batch, {self.keys.shape[1]}) or ({self.keys.shape[1]},), "
                f"got {tuple(xt.shape)}"
            )
        if not torch.isfinite(xt).all():
            raise InputError("input contains NaN or infinity")
        if self.quantise_input:
            xt = self.quantise(xt)
        return xt, single

    @staticmethod
    def quantise(x: torch.Tensor) -> torch.Tensor:
        """Unit-normalise each row and quantise to int8 levels (as floats): DESIGN §1 step 1."""
        norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        if (norms == 0).any():
            raise InputError("input contains a zero vector, which has no direction to quantise")
        return torch.clamp(torch.round(Q_SCALE * (x / norms)), -INT8_MAX, INT8_MAX)

    def scores(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Raw scores <x', K_j> of every stored pattern, (batch, N)."""
        xt, _ = self._prepare(x)
        return xt @ self.keys.T

    def select(self, scores: torch.Tensor) -> torch.Tensor:
        """The k best ids per row of ``scores``, sorted by index.

        For a committed model (``quantise_input``) ties go to the lower index, as in
        protocol.layer.top_k: ranking on score·N − index in float64 is exact for integer
        scores while |score|·N < 2^53 (always, for int8 models). A float model keeps
        torch.topk's tie order.
        """
        n = scores.shape[1]
        ids = torch.arange(n, device=scores.device, dtype=torch.float64)
        if self.quantise_input:
            key = scores.to(torch.float64) * n - ids
        else:
            key = scores
        _, idx = torch.topk(key, self.k, dim=1)
        return torch.sort(idx, dim=1).values

    def forward(self, x: torch.Tensor | np.ndarray, sparse: bool = False) -> torch.Tensor:
        """Layer output for a batch (batch, d_in) or one vector (d_in,).

        ``sparse=False``: softmax over all N (the dense reference); ``sparse=True``: softmax
        over the k best patterns only.
        """
        xt, single = self._prepare(x)
        s = xt @ self.keys.T
        z = (self.beta * self.score_scale) * s
        if sparse:
            idx = self.select(s)
            a = torch.softmax(torch.gather(z, 1, idx), dim=1)
            y = torch.einsum("bk,bkd->bd", a, self.values[idx])
        else:
            a = torch.softmax(z, dim=1)
            y = a @ self.values
        y = self.value_scale * y
        return y[0] if single else y

    def forward_selected(self, x: torch.Tensor | np.ndarray, ids: torch.Tensor) -> torch.Tensor:
        """Output with softmax over the given ids (batch, m) only — a selection made elsewhere
        (e.g. HNSW + exact re-rank)."""
        xt, single = self._prepare(x)
        idx = torch.as_tensor(ids, device=self.keys.device, dtype=torch.long)
        if idx.ndim == 1:
            idx = idx.unsqueeze(0)
        s = torch.einsum("bd,bkd->bk", xt, self.keys[idx])
        a = torch.softmax((self.beta * self.score_scale) * s, dim=1)
        y = self.value_scale * torch.einsum("bk,bkd->bd", a, self.values[idx])
        return y[0] if single else y
