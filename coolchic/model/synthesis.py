"""Synthesis: per-pixel MLP over the upsampled grids, then residual 3x3 convolutions.

Channels-first throughout. Training evaluates it on row tiles with a halo of one row per conv,
so a tile's activations stay in cache; zero padding at the image border is reproduced by
masking rows that fall outside the image.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import coolchic.model.colour as colour
from coolchic.config import ModelConfig
from coolchic.model.arrays import matmul, stack_first, vmapped_as
from coolchic.model.inits import fan_in_normal
from coolchic.model.tiling import map_over_tiles, split_rows, sum_over_tiles, tile_rows


def init_synthesis(key, config: ModelConfig) -> dict:
    """Zero residual convs (the identity). "plain": He-normal hidden layers, a small output layer
    with bias 0.5 (mid-grey); "c3": haiku's fan-in init everywhere, zero biases."""
    dims = (config.n_grids, *config.synth_hidden, config.out_channels)
    keys = jax.random.split(key, len(dims))
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        if config.parameterisation == "c3":
            layers.append({"w": fan_in_normal(keys[i], (b, a)), "b": jnp.zeros((b,))})
            continue
        scale = 0.1 / np.sqrt(a) if last else np.sqrt(2.0 / a)
        layers.append(
            {"w": jax.random.normal(keys[i], (b, a)) * scale, "b": jnp.full((b,), 0.5 if last else 0.0, jnp.float32)}
        )
    c = config.out_channels
    convs = [{"w": jnp.zeros((c, c, 3, 3)), "b": jnp.zeros((c,))} for _ in range(config.synth_convs)]
    return {"layers": layers, "convs": convs}


ACTIVATIONS = {"relu": jax.nn.relu, "gelu": jax.nn.gelu}  # jax.nn.gelu: the tanh form, as C3


def pixel_mlp(layers: list, x: jnp.ndarray, activation: str = "relu") -> jnp.ndarray:
    """(C_in, R, W) -> (C_out, R, W) with the activation between layers."""
    c, r, w = x.shape
    x = x.reshape(c, r * w)
    act = ACTIVATIONS[activation]
    for i, layer in enumerate(layers):
        x = layer["w"] @ x + layer["b"][:, None]
        if i < len(layers) - 1:
            x = act(x)
    return x.reshape(-1, r, w)


def conv3x3_matmul(w: jnp.ndarray, x: jnp.ndarray, rows_pad: int, edge: bool = False) -> jnp.ndarray:
    """3x3 conv of x (C_in, ..., R, W) by w (C_out, C_in, 3, 3) as one matmul over its nine
    shifted views (im2col): padding of 1 along W (zeros, or the edge values) and zeros of rows_pad
    along rows -> (C_out, ..., R + 2 * rows_pad - 2, W). Under vmap a batched matmul, not a grouped conv."""
    c, w_out = x.shape[0], x.shape[-1]
    lead = [(0, 0)] * (x.ndim - 2)
    if edge:
        x = jnp.pad(x, lead + [(0, 0), (1, 1)], mode="edge")
    xp = jnp.pad(x, lead + [(rows_pad, rows_pad), (0, 0) if edge else (1, 1)])
    r = xp.shape[-2] - 2
    views = stack_first([xp[..., dy : dy + r, dx : dx + w_out] for dy in range(3) for dx in range(3)])
    k = jnp.transpose(w, (0, 2, 3, 1)).reshape(w.shape[0], 9 * c)  # (out, (dy, dx, in))
    return matmul(k, views.reshape(9 * c, -1)).reshape(w.shape[0], *x.shape[1:-2], r, w_out)


def _conv_rows_lax(conv: dict, x: jnp.ndarray, edge: bool) -> jnp.ndarray:
    """One single-input-channel conv per input channel, summed: XLA:CPU runs these faster than
    one conv with 3 input channels, and faster than conv3x3_matmul."""
    k = jnp.transpose(conv["w"], (1, 0, 2, 3))[:, :, None]  # (in, out, 1, 3, 3)
    if edge:
        x = jnp.pad(x, ((0, 0), (0, 0), (1, 1)), mode="edge")
    pad = ((0, 0), (0, 0) if edge else (1, 1))
    y = conv["b"][:, None, None]
    for i in range(x.shape[0]):
        y = y + jax.lax.conv_general_dilated(x[None, i : i + 1], k[i], (1, 1), pad)[0]
    return y


def _conv_rows_matmul(conv: dict, x: jnp.ndarray, edge: bool) -> jnp.ndarray:
    return conv3x3_matmul(conv["w"], x, 0, edge) + conv["b"][:, None, None]


# 3x3 conv of (C, R, W): padding along W (zeros, or edge values), 'valid' along rows ->
# (C, R - 2, W); vmapped candidates (each with its own weights) run it as a batched matmul
# (see arrays.vmapped_as).
CONV3X3_VALID_ROWS = {
    edge: vmapped_as(functools.partial(_conv_rows_lax, edge=edge), functools.partial(_conv_rows_matmul, edge=edge))
    for edge in (False, True)
}
conv3x3_valid_rows = CONV3X3_VALID_ROWS[False]


def edge_rows(x: jnp.ndarray, valid: jnp.ndarray, invalid_top: int) -> jnp.ndarray:
    """Rows of x (C, R, W) outside the image (valid 0) replaced by the nearest image row: the
    slab's first `invalid_top` rows at the image top, as many at the bottom (static counts)."""
    r = x.shape[1]
    out = 1.0 - valid
    top = out * (jnp.arange(r) < r // 2)
    first = x[:, invalid_top : invalid_top + 1]
    last = x[:, r - 1 - invalid_top : r - invalid_top]
    return x * valid[None, :, None] + first * top[None, :, None] + last * (out - top)[None, :, None]


def _synth_slab(params: dict, feats: jnp.ndarray, valid: jnp.ndarray, config: ModelConfig) -> jnp.ndarray:
    """Synthesis of a slab with `k` halo rows on both sides (k = number of convs).

    valid (R,) is 1 for rows inside the image; outside rows act as the convs' padding (zeros, or
    copies of the border row for edge padding). Returns (C, R - 2k, W), not clipped.
    """
    x = pixel_mlp(params["layers"], feats, config.synth_activation)
    k = len(params["convs"])
    edge = config.conv_padding == "edge"
    for i, conv in enumerate(params["convs"]):
        v = valid[i : x.shape[1] + i]
        x = edge_rows(x, v, k - i) if edge else x * v[:, None]
        x = x[:, 1:-1] + CONV3X3_VALID_ROWS[edge](conv, x)
        if config.conv_activation and i < k - 1:
            x = ACTIVATIONS[config.synth_activation](x)
    if "stabiliser" in params:  # Cool-chic 5: a linear map of the features added to the output
        x = x + pixel_mlp([params["stabiliser"]], feats[:, k : feats.shape[1] - k])
    return colour.output_transform(x, config.output_range)


def _tiles(feats: jnp.ndarray, k: int, even: bool = False):
    """Row tiles of features (C, H, W) with k halo rows, and matching validity masks; even: tiles
    of an even number of rows (so 2x2 chroma blocks never straddle two tiles)."""
    c, h, w = feats.shape
    rows = tile_rows(h, w)
    rows = rows - rows % 2 if even and rows > 1 else rows
    fp = jnp.pad(feats, ((0, 0), (k, k), (0, 0)))
    valid = jnp.pad(jnp.ones((h,), feats.dtype), (k, k))
    ft, fr = split_rows(fp, rows, k, k, axis=1)
    vt, vr = split_rows(valid, rows, k, k, axis=0)
    return rows, (ft, vt) if ft is not None else None, (fr, vr) if fr is not None else None


def synthesize(params: dict, feats: jnp.ndarray, config: ModelConfig) -> jnp.ndarray:
    """(C_out, H, W) reconstruction, not clipped, computed tile by tile."""
    k = len(params["convs"])
    _, tiles, rem = _tiles(feats, k)
    return map_over_tiles(lambda t: _synth_slab(params, *t, config), tiles, rem, axis=-2)


def squared_error(params: dict, feats: jnp.ndarray, target: jnp.ndarray, config: ModelConfig) -> jnp.ndarray:
    """Sum of squared errors over the coded samples (coolchic.model.colour) between the synthesis
    of feats and target (C, H, W); the output is clipped to [0, 1] first where the config says so
    (config.clip_in_training)."""
    k = len(params["convs"])
    rows, tiles, rem = _tiles(feats, k, even=config.colour == "yuv420")
    tt, tr = split_rows(target, rows, 0, 0, axis=1)
    tiles = (*tiles, tt) if tiles is not None else None
    rem = (*rem, tr) if rem is not None else None

    def slab_se(t):
        f, v, y = t
        return colour.squared_error(_synth_slab(params, f, v, config), y, config.colour, config.clip_in_training)

    return sum_over_tiles(slab_se, tiles, rem)
