"""Autoregressive model (ARM): Laplace (mu, log-scale) of each latent from its causal neighbours.

One small MLP shared by all grids. Its input is the vector of already-decoded neighbours at the
offsets of `config.context`; layers are computed channels-first, (features, positions), so every
matmul has a long, contiguous position axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .config import ModelConfig
from .laplace import laplace_bits
from .tiling import split_rows, sum_over_tiles, tile_rows


def init_arm(key, config: ModelConfig) -> dict:
    """Hidden layers He-normal; the output layer starts at zero (mu = 0, scale = 1)."""
    dims = (len(config.context), *config.arm_hidden, 2)
    layers = []
    keys = jax.random.split(key, len(dims) - 1)
    for i, (k, a, b) in enumerate(zip(keys, dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        w = jnp.zeros((b, a)) if last else jax.random.normal(k, (b, a)) * np.sqrt(2.0 / a)
        layers.append({"w": w, "b": jnp.zeros((b,))})
    return {"layers": layers}


def pad_grid(grid: jnp.ndarray, config: ModelConfig, bottom: int = 0) -> jnp.ndarray:
    """Zero-pad a (h, w) grid so that every context offset of every latent is in range."""
    top, left, right = config.context_pad
    return jnp.pad(grid, ((top, bottom), (left, right)))


def gather_context(padded: jnp.ndarray, config: ModelConfig, rows: int, width: int) -> jnp.ndarray:
    """(n_context, rows * width) neighbours of the rows x width latents of a padded slab."""
    top, left, _ = config.context_pad
    views = [padded[top + dy : top + dy + rows, left + dx : left + dx + width] for dy, dx in config.context]
    return jnp.stack(views, 0).reshape(len(views), rows * width)


def mlp(arm: dict, x: jnp.ndarray) -> jnp.ndarray:
    """Channels-first MLP with ReLU: x (n_in, N) -> (2, N) = (mu, log_scale)."""
    layers = arm["layers"]
    for i, layer in enumerate(layers):
        x = layer["w"] @ x + layer["b"][:, None]
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x


def grid_bits(arm: dict, grid: jnp.ndarray, config: ModelConfig) -> jnp.ndarray:
    """Total bits of one latent grid (values as given: noisy, soft- or hard-rounded)."""
    h, w = grid.shape
    top = config.context_pad[0]
    rows = tile_rows(h, w)
    padded = pad_grid(grid, config)

    def slab_bits(slab):
        r = slab.shape[0] - top
        params = mlp(arm, gather_context(slab, config, r, w))
        y = slab[top:, config.context_pad[1] : config.context_pad[1] + w].reshape(-1)
        return jnp.sum(laplace_bits(y, params[0], params[1]))

    tiles, rem = split_rows(padded, rows, top, 0, axis=0)
    return sum_over_tiles(slab_bits, tiles, rem)


def grid_distribution(arm: dict, grid: jnp.ndarray, config: ModelConfig):
    """(mu, log_scale) of every latent of a grid, each (h, w), in float."""
    h, w = grid.shape
    params = mlp(arm, gather_context(pad_grid(grid, config), config, h, w))
    return params[0].reshape(h, w), params[1].reshape(h, w)
