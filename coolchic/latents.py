"""Latent grids: shapes for any image size and their initial values."""

from __future__ import annotations

import jax.numpy as jnp


def grid_shapes(height: int, width: int, n_grids: int) -> list[tuple[int, int]]:
    """(h, w) of each grid, finest first: ceil(H / 2^i) x ceil(W / 2^i)."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return [(-(-height // 2**i), -(-width // 2**i)) for i in range(n_grids)]


def init_latents(height: int, width: int, n_grids: int) -> list:
    """Zero grids: the fit starts from 'no information', as Cool-chic and C3 do."""
    return [jnp.zeros(s, jnp.float32) for s in grid_shapes(height, width, n_grids)]


def n_latents(height: int, width: int, n_grids: int) -> int:
    return sum(h * w for h, w in grid_shapes(height, width, n_grids))
