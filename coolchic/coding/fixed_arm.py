"""The ARM in fixed point, for coding: bit-identical on every machine, batch shape and backend.

Latents are integers clamped to [LATENT_MIN, LATENT_MAX]; inputs are shifted left by 16 (Q16),
weights are integers at scale 2^16 and biases at 2^32 (exact because weight quantization steps are
powers of two >= 2^-16), hidden layers apply the bounded ReLU then >> 16, the last layer >> 24
gives mu and log-scale with 8 fractional bits, which index constant tables.

The integer products and sums are evaluated with float64 matrix products: every operand is an
integer below 2^53 in magnitude (|x| <= 2^22, |w| <= 2^20, widths <= 256), so every partial sum
is exact whatever the summation order, blocking or FMA use of the BLAS — fast *and* exact. It runs
in numpy on the host, so an image encoded on a GPU decodes identically on a CPU.
"""

from __future__ import annotations

import numpy as np

from coolchic.model.arm import HIDDEN_MAX
from coolchic.model.laplace import LOG_SCALE_MAX, LOG_SCALE_MIN

LATENT_MIN, LATENT_MAX = -64, 63
FRAC = 8  # fractional bits of mu and log-scale
MU_MIN, MU_MAX = LATENT_MIN << FRAC, (LATENT_MAX + 1 << FRAC) - 1
LS_MIN, LS_MAX = int(LOG_SCALE_MIN) << FRAC, int(LOG_SCALE_MAX) << FRAC
WEIGHT_MAX = 16.0  # |w| bound of ARM weights, so |w * 2^16| <= 2^20
MAX_WIDTH = 256

_OUT_MIN = np.array([MU_MIN, LS_MIN], np.float64)
_OUT_MAX = np.array([MU_MAX, LS_MAX], np.float64)

# scale = exp(log_scale) for every representable log-scale, rounded to 2^-32 so that a last-ulp
# difference between exp implementations cannot change a table entry.
SCALE_TABLE = np.round(np.exp(np.arange(LS_MIN, LS_MAX + 1) / 2.0**FRAC) * 2.0**32) / 2.0**32


def arm_to_fixed(arm: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Integer (as float64) weights at 2^16, transposed to (in, out), and biases at 2^32.

    The first layer's weights also carry the inputs' << 16, so the coder feeds raw latents.
    """
    layers = []
    for i, layer in enumerate(arm["layers"]):
        wt, bi = layer_ints(layer)
        layers.append((wt * (2.0**16 if i == 0 else 1.0), bi))
    return layers


def layer_ints(layer: dict) -> tuple[np.ndarray, np.ndarray]:
    """(weights * 2^16 transposed to (in, out), biases * 2^32) of a quantized linear layer, as
    float64 holding integers, checked exact and in the fixed-point range."""
    w = np.asarray(layer["w"], np.float64)
    b = np.asarray(layer["b"], np.float64)
    if max(w.shape) > MAX_WIDTH:
        raise ValueError(f"ARM width {max(w.shape)} exceeds {MAX_WIDTH}")
    wi, bi = w * 2.0**16, b * 2.0**32
    if not (np.all(wi == np.round(wi)) and np.all(bi == np.round(bi))):
        raise ValueError("ARM weights must be quantized to steps >= 2^-16 (biases 2^-32) before fixed point")
    if np.abs(w).max(initial=0) > WEIGHT_MAX or np.abs(b).max(initial=0) > 2.0**16:
        raise ValueError("ARM parameter out of the fixed-point range")
    return np.ascontiguousarray(wi.T), bi


def fixed_forward(layers, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ctx (N, n_context) integer latents -> (mu_index, log_scale_index), each (N,) float64 holding
    integers. mu = mu_index / 2^8 and scale = SCALE_TABLE[log_scale_index - LS_MIN].

    The decoder calls this once per wavefront (thousands of times on small batches), so it keeps
    to a few in-place numpy calls per layer.
    """
    x = np.asarray(ctx, np.float64)
    hmax = HIDDEN_MAX * 2.0**16
    n_layers = len(layers)
    for i, (wt, b) in enumerate(layers):
        acc = x @ wt
        acc += b  # Q32, exact
        if i < n_layers - 1:
            acc *= 2.0**-16  # exact: a power-of-two scaling
            np.floor(acc, out=acc)
            np.maximum(acc, 0.0, out=acc)  # ufuncs: far less call overhead than np.clip
            x = np.minimum(acc, hmax, out=acc)
    acc *= 2.0 ** -(32 - FRAC)
    np.floor(acc, out=acc)
    np.maximum(acc, _OUT_MIN, out=acc)
    np.minimum(acc, _OUT_MAX, out=acc)
    return acc[:, 0], acc[:, 1]


def laplace_params(mu_idx: np.ndarray, ls_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 (mean, scale) for constriction's QuantizedLaplace, from table indices."""
    return mu_idx * 2.0**-FRAC, SCALE_TABLE[(ls_idx - LS_MIN).astype(np.intp)]


def laplace_bits_np(y: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Ideal bits of integer latents in [LATENT_MIN, LATENT_MAX] (tails folded into the ends)."""

    def cdf(v):
        z = (v - mean) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    hi = np.where(y >= LATENT_MAX, 1.0, cdf(y + 0.5))
    lo = np.where(y <= LATENT_MIN, 0.0, cdf(y - 0.5))
    return -np.log2(np.maximum(hi - lo, 2.0**-24))
