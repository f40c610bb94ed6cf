"""Kumaraswamy(a, b) noise with its mode at 1/2, C3's replacement for uniform quantization noise.

C3 (Kim et al. 2024, Sec. 3; `kumaraswamy_b_fn` / `kumaraswamy_inv_cdf` in `model/latents.py` of
google-deepmind/c3_neural_compression) draws the additive noise from a Kumaraswamy distribution
on [0, 1] whose mode is fixed at 1/2, then shifts it to [-1/2, 1/2]. The shape `a` is annealed
from 2 (peaked, low variance: closer to the rounding the model will finally see) to 1 (a = 1 gives
b = 1, i.e. uniform noise). Density a b x^(a-1) (1 - x^a)^(b-1), CDF 1 - (1 - x^a)^b.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def kumaraswamy_b(a):
    """b such that the mode ((a - 1) / (a b - 1))^(1/a) is 1/2: b = (2^a (a - 1) + 1) / a."""
    return (2.0**a * (a - 1.0) + 1.0) / a


def kumaraswamy_inv_cdf(u, a, b):
    """Inverse CDF: x = (1 - (1 - u)^(1/b))^(1/a), maps U(0, 1) to Kumaraswamy(a, b)."""
    return (1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a)


def kumaraswamy_cdf(x, a, b):
    return 1.0 - (1.0 - x**a) ** b


def kumaraswamy_mean(a, b):
    """E[X] = b B(1 + 1/a, b) (host-side, float64; for tests and diagnostics)."""
    from scipy.special import beta

    return b * beta(1.0 + 1.0 / a, b)


def kumaraswamy_noise(key, shape, a, dtype=jnp.float32):
    """Noise on [-1/2, 1/2] with mode 0: Kumaraswamy(a, b(a)) - 1/2. `a` may be traced."""
    a = jnp.asarray(a, dtype)
    u = jax.random.uniform(key, shape, dtype)
    return kumaraswamy_inv_cdf(u, a, kumaraswamy_b(a)) - 0.5


def kumaraswamy_noise_like(latents: list, key, a) -> list:
    """One noise draw shaped like each grid of `latents` (a single RNG call for all grids, which
    compiles and runs faster than one call per grid)."""
    sizes = [g.size for g in latents]
    noise = kumaraswamy_noise(key, (sum(sizes),), a)
    parts = jnp.split(noise, list(np.cumsum(sizes)[:-1]))
    return [p.reshape(g.shape) for p, g in zip(parts, latents)]
