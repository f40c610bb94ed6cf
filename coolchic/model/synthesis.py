"""Synthesis: per-pixel MLP over the upsampled grids, then residual 3x3 convolutions.

Channels-first throughout. Training evaluates it on row tiles with a halo of one row per conv,
so a tile's activations stay in cache; zero padding at the image border is reproduced by
masking rows that fall outside the image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.config import ModelConfig
from coolchic.model.arrays import matmul, stack_first, vmapped_as
from coolchic.model.tiling import map_over_tiles, split_rows, sum_over_tiles, tile_rows


def init_synthesis(key, config: ModelConfig) -> dict:
    """He-normal hidden layers, small output layer with bias 0.5 (mid-grey), zero residual convs."""
    dims = (config.n_grids, *config.synth_hidden, config.out_channels)
    keys = jax.random.split(key, len(dims))
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        scale = 0.1 / np.sqrt(a) if last else np.sqrt(2.0 / a)
        layers.append(
            {"w": jax.random.normal(keys[i], (b, a)) * scale, "b": jnp.full((b,), 0.5 if last else 0.0, jnp.float32)}
        )
    c = config.out_channels
    convs = [{"w": jnp.zeros((c, c, 3, 3)), "b": jnp.zeros((c,))} for _ in range(config.synth_convs)]
    return {"layers": layers, "convs": convs}


def pixel_mlp(layers: list, x: jnp.ndarray) -> jnp.ndarray:
    """(C_in, R, W) -> (C_out, R, W) with ReLU between layers."""
    c, r, w = x.shape
    x = x.reshape(c, r * w)
    for i, layer in enumerate(layers):
        x = layer["w"] @ x + layer["b"][:, None]
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return x.reshape(-1, r, w)


def conv3x3_matmul(w: jnp.ndarray, x: jnp.ndarray, rows_pad: int) -> jnp.ndarray:
    """3x3 conv of x (C_in, ..., R, W) by w (C_out, C_in, 3, 3) as one matmul over its nine
    shifted views (im2col): zero padding of 1 along W and rows_pad along rows ->
    (C_out, ..., R + 2 * rows_pad - 2, W). Under vmap a batched matmul, not a grouped conv."""
    c, w_out = x.shape[0], x.shape[-1]
    xp = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(rows_pad, rows_pad), (1, 1)])
    r = xp.shape[-2] - 2
    views = stack_first([xp[..., dy : dy + r, dx : dx + w_out] for dy in range(3) for dx in range(3)])
    k = jnp.transpose(w, (0, 2, 3, 1)).reshape(w.shape[0], 9 * c)  # (out, (dy, dx, in))
    return matmul(k, views.reshape(9 * c, -1)).reshape(w.shape[0], *x.shape[1:-2], r, w_out)


def _conv_rows_lax(conv: dict, x: jnp.ndarray) -> jnp.ndarray:
    """One single-input-channel conv per input channel, summed: XLA:CPU runs these faster than
    one conv with 3 input channels, and faster than conv3x3_matmul."""
    k = jnp.transpose(conv["w"], (1, 0, 2, 3))[:, :, None]  # (in, out, 1, 3, 3)
    y = conv["b"][:, None, None]
    for i in range(x.shape[0]):
        y = y + jax.lax.conv_general_dilated(x[None, i : i + 1], k[i], (1, 1), ((0, 0), (1, 1)))[0]
    return y


def _conv_rows_matmul(conv: dict, x: jnp.ndarray) -> jnp.ndarray:
    return conv3x3_matmul(conv["w"], x, 0) + conv["b"][:, None, None]


# 3x3 conv of (C, R, W): zero padding along W, 'valid' along rows -> (C, R - 2, W); vmapped
# candidates (each with its own weights) run it as a batched matmul (see arrays.vmapped_as).
conv3x3_valid_rows = vmapped_as(_conv_rows_lax, _conv_rows_matmul)


def _synth_slab(params: dict, feats: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
    """Synthesis of a slab with `k` halo rows on both sides (k = number of convs).

    valid (R,) is 1 for rows inside the image; outside rows act as the convs' zero padding.
    Returns (C, R - 2k, W), not clipped.
    """
    x = pixel_mlp(params["layers"], feats)
    for i, conv in enumerate(params["convs"]):
        x = x * valid[i : x.shape[1] + i, None]
        x = x[:, 1:-1] + conv3x3_valid_rows(conv, x)
    return x


def _tiles(feats: jnp.ndarray, k: int):
    """Row tiles of features (C, H, W) with k halo rows, and matching validity masks."""
    c, h, w = feats.shape
    rows = tile_rows(h, w)
    fp = jnp.pad(feats, ((0, 0), (k, k), (0, 0)))
    valid = jnp.pad(jnp.ones((h,), feats.dtype), (k, k))
    ft, fr = split_rows(fp, rows, k, k, axis=1)
    vt, vr = split_rows(valid, rows, k, k, axis=0)
    return rows, (ft, vt) if ft is not None else None, (fr, vr) if fr is not None else None


def synthesize(params: dict, feats: jnp.ndarray) -> jnp.ndarray:
    """(C_out, H, W) reconstruction, not clipped, computed tile by tile."""
    k = len(params["convs"])
    _, tiles, rem = _tiles(feats, k)
    return map_over_tiles(lambda t: _synth_slab(params, *t), tiles, rem, axis=-2)


def squared_error(params: dict, feats: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """Sum of squared errors between the synthesis of feats and target (C, H, W)."""
    k = len(params["convs"])
    rows, tiles, rem = _tiles(feats, k)
    tt, tr = split_rows(target, rows, 0, 0, axis=1)
    tiles = (*tiles, tt) if tiles is not None else None
    rem = (*rem, tr) if rem is not None else None

    def slab_se(t):
        f, v, y = t
        return jnp.sum((_synth_slab(params, f, v) - y) ** 2)

    return sum_over_tiles(slab_se, tiles, rem)
