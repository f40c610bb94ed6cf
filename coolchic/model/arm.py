"""Autoregressive model (ARM): Laplace (mu, log-scale) of each latent from its causal neighbours.

One small MLP shared by all grids. Its input is the vector of already-decoded neighbours at the
offsets of `config.context`; layers are computed channels-first, (features, positions), so every
matmul has a long, contiguous position axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.config import ModelConfig
from coolchic.model.arrays import stack_first
from coolchic.model.inits import fan_in_normal, truncated_normal
from coolchic.model.laplace import laplace_bits
from coolchic.model.tiling import split_rows, sum_over_tiles, tile_rows


def init_arm(key, config: ModelConfig) -> dict:
    """Init "plain": hidden layers He-normal, the output layer at zero (mu = 0, scale = 1). "c3" (in
    the fit's parameterisation, coolchic.model.fit_space): C3's init, the first layer truncated
    normal of std 1/sqrt(n_context) (its `init_like_linear`), the others haiku's default, zero biases."""
    dims = (config.n_context, *config.arm_hidden, 2)
    layers = []
    keys = jax.random.split(key, len(dims) - 1)
    if config.parameterisation == "c3":
        for i, (k, a, b) in enumerate(zip(keys, dims[:-1], dims[1:])):
            w = truncated_normal(k, (b, a), 1.0 / np.sqrt(a)) if i == 0 else fan_in_normal(k, (b, a))
            layers.append({"w": w, "b": jnp.zeros((b,))})
        return {"layers": layers}
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
    return stack_first(views).reshape(len(views), rows * width)


# Hidden activations are clipped to [0, HIDDEN_MAX] (a bounded ReLU) in training and in the
# fixed-point coder alike: the bound keeps every integer accumulator of the coder exact. Differs
# from C3 (GELU) on purpose: a float GELU ARM fitted no better (kodim01 crop, lambda 1e-3, 3000
# steps: RD cost before weight quantization 1.6763e-3 against 1.6738e-3 with this one).
HIDDEN_MAX = 64.0


def mlp(arm: dict, x: jnp.ndarray) -> jnp.ndarray:
    """Channels-first MLP with bounded ReLU: x (n_in, N) -> (2, N) = (mu, log_scale)."""
    layers = arm["layers"]
    for i, layer in enumerate(layers):
        x = layer["w"] @ x + layer["b"][:, None]
        if i < len(layers) - 1:
            x = jnp.clip(x, 0.0, HIDDEN_MAX)
    return x


def canvas_layout(shapes: list, config: ModelConfig):
    """Where each grid goes on one shared zero canvas: [(row, col)], (height, width).

    Grid 0 on top, the coarser grids side by side below it, with gaps of zeros at least as wide
    as the context reaches, so every latent sees exactly the zero padding it would see alone.
    One canvas means one ARM pass (one small graph, one tiled loop) for all grids.
    """
    top, left, right = config.context_pad
    gap = max(left, right)
    h0, w0 = shapes[0]
    places = [(top, left)]
    row = top + h0 + top
    col = left
    for h, w in shapes[1:]:
        places.append((row, col))
        col += w + gap
    height = row + max([h for h, _ in shapes[1:]] + [0])
    width = max(left + w0 + right, col - gap + right)
    return places, (height, width)


def to_canvas(grids: list, config: ModelConfig):
    """(canvas, mask): the grids (..., h, w) placed on the canvas, and 1 where a latent lives.

    The canvas is a sum of zero-padded grids (they do not overlap): pads stay pads under vmap
    and transpose to slices, where dynamic_update_slice becomes a scatter under vmap (and a
    gather in the backward pass), which made vmapped fits several times slower than serial ones.
    """
    shapes = [g.shape[-2:] for g in grids]
    places, (hc, wc) = canvas_layout(shapes, config)
    mask = np.zeros((hc, wc), np.float32)
    parts = []
    for g, (r, c) in zip(grids, places):
        h, w = g.shape[-2:]
        lead = [(0, 0)] * (g.ndim - 2)  # e.g. feature channels placed like their grid
        parts.append(jnp.pad(g, lead + [(r, hc - r - h), (c, wc - c - w)]))
        mask[r : r + h, c : c + w] = 1.0
    return sum(parts[1:], parts[0]), jnp.asarray(mask)


def canvas_bits(arm: dict, canvas, mask, config: ModelConfig, extra=None, forward=None) -> jnp.ndarray:
    """Total bits of the latents on a canvas (values as given: noisy, soft- or hard-rounded).

    The canvas already carries its context padding, so tiles only need `top` halo rows. extra
    (F, hc, wc), placed like the canvas, holds more ARM inputs per latent, after its context;
    forward(arm, inputs) -> (mu, log_scale) is the ARM (default: mlp).
    """
    forward = forward or mlp
    top, left, right = config.context_pad
    hc, wc = canvas.shape
    w = wc - left - right
    rows = tile_rows(hc - top, w)

    def slab_bits(t):
        slab, m, *e = t
        r = slab.shape[0] - top
        x = gather_context(slab, config, r, w)
        if e:
            x = jnp.concatenate([x, e[0][:, top:, left : left + w].reshape(e[0].shape[0], r * w)], 0)
        out = forward(arm, x)
        y = slab[top:, left : left + w].reshape(-1)
        return jnp.sum(laplace_bits(y, out[0], out[1]) * m[top:, left : left + w].reshape(-1))

    parts = [split_rows(canvas, rows, top, 0, axis=0), split_rows(mask, rows, top, 0, axis=0)]
    if extra is not None:
        parts.append(split_rows(extra, rows, top, 0, axis=1))
    tiles = None if parts[0][0] is None else tuple(p[0] for p in parts)
    rem = None if parts[0][1] is None else tuple(p[1] for p in parts)
    return sum_over_tiles(slab_bits, tiles, rem)


def latent_bits(arm: dict, grids: list, config: ModelConfig) -> jnp.ndarray:
    """Total bits of a list of grids under the ARM."""
    canvas, mask = to_canvas(grids, config)
    return canvas_bits(arm, canvas, mask, config)


def grid_distribution(arm: dict, grid: jnp.ndarray, config: ModelConfig):
    """(mu, log_scale) of every latent of a grid, each (h, w), in float."""
    h, w = grid.shape
    params = mlp(arm, gather_context(pad_grid(grid, config), config, h, w))
    return params[0].reshape(h, w), params[1].reshape(h, w)
