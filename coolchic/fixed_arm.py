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

from .arm import HIDDEN_MAX
from .laplace import LOG_SCALE_MAX, LOG_SCALE_MIN

LATENT_MIN, LATENT_MAX = -64, 63
FRAC = 8  # fractional bits of mu and log-scale
MU_MIN, MU_MAX = LATENT_MIN << FRAC, (LATENT_MAX + 1 << FRAC) - 1
LS_MIN, LS_MAX = int(LOG_SCALE_MIN) << FRAC, int(LOG_SCALE_MAX) << FRAC
WEIGHT_MAX = 16.0  # |w| bound of ARM weights, so |w * 2^16| <= 2^20
MAX_WIDTH = 256

# scale = exp(log_scale) for every representable log-scale, rounded to 2^-32 so that a last-ulp
# difference between exp implementations cannot change a table entry.
SCALE_TABLE = np.round(np.exp(np.arange(LS_MIN, LS_MAX + 1) / 2.0**FRAC) * 2.0**32) / 2.0**32


def arm_to_fixed(arm: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Integer (as float64) weights (out, in) at 2^16 and biases at 2^32 of dequantized ARM params."""
    layers = []
    for layer in arm["layers"]:
        w = np.asarray(layer["w"], np.float64)
        b = np.asarray(layer["b"], np.float64)
        if max(w.shape) > MAX_WIDTH:
            raise ValueError(f"ARM width {max(w.shape)} exceeds {MAX_WIDTH}")
        wi, bi = w * 2.0**16, b * 2.0**32
        if not (np.all(wi == np.round(wi)) and np.all(bi == np.round(bi))):
            raise ValueError("ARM weights must be quantized to steps >= 2^-16 (biases 2^-32) before fixed point")
        if np.abs(w).max(initial=0) > WEIGHT_MAX or np.abs(b).max(initial=0) > 2.0**16:
            raise ValueError("ARM parameter out of the fixed-point range")
        layers.append((wi, bi))
    return layers


def fixed_forward(layers, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ctx (N, n_context) integer latents -> (mu_index, log_scale_index), each (N,) int64.

    mu = mu_index / 2^8 and scale = SCALE_TABLE[log_scale_index - LS_MIN].
    """
    x = np.asarray(ctx, np.float64) * 2.0**16
    hmax = HIDDEN_MAX * 2.0**16
    for i, (w, b) in enumerate(layers):
        acc = x @ w.T + b  # Q32, exact
        if i < len(layers) - 1:
            x = np.clip(np.floor(acc / 2.0**16), 0.0, hmax)
        else:
            out = np.floor(acc / 2.0 ** (32 - FRAC))
    mu = np.clip(out[:, 0], MU_MIN, MU_MAX).astype(np.int64)
    ls = np.clip(out[:, 1], LS_MIN, LS_MAX).astype(np.int64)
    return mu, ls


def laplace_params(mu_idx: np.ndarray, ls_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 (mean, scale) for constriction's QuantizedLaplace, from table indices."""
    return mu_idx / 2.0**FRAC, SCALE_TABLE[ls_idx - LS_MIN]


def laplace_bits_np(y: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Ideal bits of integer latents in [LATENT_MIN, LATENT_MAX] (tails folded into the ends)."""

    def cdf(v):
        z = (v - mean) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    hi = np.where(y >= LATENT_MAX, 1.0, cdf(y + 0.5))
    lo = np.where(y <= LATENT_MIN, 0.0, cdf(y - 0.5))
    return -np.log2(np.maximum(hi - lo, 2.0**-24))
