"""Latent quantization proxies used during fitting, as pure functions of (latents, key, progress).

A quantizer maps each continuous grid to the values the rest of the model sees; `progress` in
[0, 1] is the position within the stage (so annealed quantizers are schedules, computed on device).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def hard_round(latents: list) -> list:
    return [jnp.round(g) for g in latents]


def uniform_noise(latents: list, key, progress) -> list:
    """Cool-chic's proxy: y + U(-1/2, 1/2)."""
    return [g + u for g, u in zip(latents, _uniform_like(latents, key, -0.5, 0.5))]


def _uniform_like(latents: list, key, lo: float, hi: float) -> list:
    """One draw for all grids (one RNG call compiles and runs faster than one per grid)."""
    sizes = [g.size for g in latents]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float32, lo, hi)
    parts = jnp.split(u, list(np.cumsum(sizes)[:-1]))
    return [p.reshape(g.shape) for p, g in zip(parts, latents)]


def straight_through(latents: list, key, progress) -> list:
    """round(y) forward, identity gradient backward."""
    return [g + jax.lax.stop_gradient(jnp.round(g) - g) for g in latents]
