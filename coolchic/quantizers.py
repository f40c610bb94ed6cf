"""Latent quantization proxies used during fitting, as pure functions of (latents, key, progress).

A quantizer maps each continuous grid to the values the rest of the model sees; `progress` in
[0, 1] is the position within the stage (so annealed quantizers are schedules, computed on device).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def hard_round(latents: list) -> list:
    return [jnp.round(g) for g in latents]


def uniform_noise(latents: list, key, progress) -> list:
    """Cool-chic's proxy: y + U(-1/2, 1/2)."""
    keys = jax.random.split(key, len(latents))
    return [g + jax.random.uniform(k, g.shape, g.dtype, -0.5, 0.5) for g, k in zip(latents, keys)]


def straight_through(latents: list, key, progress) -> list:
    """round(y) forward, identity gradient backward."""
    return [g + jax.lax.stop_gradient(jnp.round(g) - g) for g in latents]
