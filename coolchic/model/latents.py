"""Latent grids: the pyramid of shapes for any image or video size, and their initial values."""

from __future__ import annotations

import jax.numpy as jnp


def pyramid(dims: tuple[int, ...], n_grids: int) -> list[tuple[int, ...]]:
    """Shape of each grid, finest first: every dimension of `dims` ceil-divided by 2^i.

    One rule for images (H, W) and videos (T, H, W): grids differ only by the time axis.
    """
    if min(dims, default=0) < 1:
        what = "video" if len(dims) == 3 else "image"
        raise ValueError(f"{what} size must be positive, got {'x'.join(map(str, dims))}")
    return [tuple(-(-n // 2**i) for n in dims) for i in range(n_grids)]


def grid_shapes(height: int, width: int, n_grids: int) -> list[tuple[int, int]]:
    """(h, w) of each grid of an image, finest first: ceil(H / 2^i) x ceil(W / 2^i)."""
    return pyramid((height, width), n_grids)


def init_latents(dims: tuple[int, ...], n_grids: int) -> list:
    """Zero grids: the fit starts from 'no information', as Cool-chic and C3 do."""
    return [jnp.zeros(s, jnp.float32) for s in pyramid(tuple(dims), n_grids)]
