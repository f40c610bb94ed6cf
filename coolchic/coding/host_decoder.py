"""Upsampling and synthesis in numpy (float32), the reconstruction both encoder and decoder use.

The codec computes the final image on the host with this one code path: the encoder reports
exactly what any decoder will produce, decoding needs no XLA compilation (a fresh process decodes
in well under a second), and a stream written after fitting on a GPU decodes to the same pixels on
a CPU. It mirrors coolchic.model.upsampling / coolchic.model.synthesis, which the JAX training path uses.
"""

from __future__ import annotations

import jax
import numpy as np

from coolchic.config import CoolChic5Config, ModelConfig
from coolchic.model import colour, coolchic5, upsampling


def upsample(params: dict, grids: list, config: ModelConfig, height: int, width: int) -> np.ndarray:
    """coolchic.model.upsampling's algorithm, run by numpy in float32."""
    grids = [np.asarray(g, np.float32) for g in grids]
    params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    if isinstance(config, CoolChic5Config):  # its latents first, then the hyperlatents
        out = coolchic5.upsample(params, grids[: config.n_grids], config, height, width, xnp=np)
    else:
        out = upsampling.upsample(params, grids, config, height, width, xnp=np)
    return np.ascontiguousarray(out, dtype=np.float32)


_CHUNK = 16384


def gelu(x: np.ndarray) -> np.ndarray:
    """jax.nn.gelu's tanh form, in float32 in place."""
    inner = x * x
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(np.sqrt(2.0 / np.pi))
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= np.float32(0.5)
    x *= inner
    return x


def activate(x: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(x, 0, out=x) if activation == "relu" else gelu(x)


def pixel_mlp(layers: list, feats: np.ndarray, activation: str = "relu") -> np.ndarray:
    """(C_in, ..., W) features -> (C_out, ..., W) through the per-pixel MLP (activation between layers)."""
    c, *dims = feats.shape
    n = int(np.prod(dims))
    flat = feats.reshape(c, n)
    layers = [(np.asarray(l["w"], np.float32), np.asarray(l["b"], np.float32)[:, None]) for l in layers]
    x = np.empty((layers[-1][0].shape[0], n), np.float32)
    for s0 in range(0, n, _CHUNK):  # cache-sized chunks: the MLP is memory-bound otherwise
        y = flat[:, s0 : s0 + _CHUNK]
        for i, (wt, b) in enumerate(layers):
            y = wt @ y
            y += b
            if i < len(layers) - 1:
                activate(y, activation)
        x[:, s0 : s0 + _CHUNK] = y
    return x.reshape(-1, *dims)


def conv3x3(x: np.ndarray, k: np.ndarray, edge: bool = False) -> np.ndarray:
    """3x3 conv over the last two axes of x (C_in, ..., H, W), k (C_out, C_in, 3, 3), padded with
    zeros or (edge) the border values."""
    h, w = x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
    xp = np.pad(x, pad, mode="edge" if edge else "constant")
    y = np.zeros((k.shape[0], *x.shape[1:]), np.float32)
    for dy in range(3):
        for dx in range(3):
            v = xp[..., dy : dy + h, dx : dx + w].reshape(x.shape[0], -1)
            y += (k[:, :, dy, dx] @ v).reshape(y.shape)
    return y


def residual_conv(conv: dict, x: np.ndarray, conv3d: bool = False, edge: bool = False) -> np.ndarray:
    """x + b + conv(x), zero (or edge) padding: 3x3 over the last two axes of (C, H, W) or
    (C, T, H, W) (per frame), or with conv3d 3x3x3 over (T, H, W) (zero padding), as frames t-1,
    t, t+1 through 3x3 kernels."""
    k = np.asarray(conv["w"], np.float32)
    y = x + np.asarray(conv["b"], np.float32).reshape(-1, *[1] * (x.ndim - 1))
    if conv3d:
        xp = np.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0)))
        for d in range(3):
            y += conv3x3(xp[:, d : d + x.shape[1]], k[:, :, d])
    else:
        y += conv3x3(x, k, edge)
    return y


def synthesize(params: dict, feats: np.ndarray, config: ModelConfig) -> np.ndarray:
    """(C_in, *dims) features -> (C_out, *dims) in [0, 1]: the per-pixel MLP, then the residual
    convs; one code path for images (H, W) and videos (T, H, W)."""
    x = pixel_mlp(params["layers"], feats, config.synth_activation)
    conv3d = config.is_video and config.conv3d
    n = len(params["convs"])
    for i, conv in enumerate(params["convs"]):
        x = residual_conv(conv, x, conv3d, config.conv_padding == "edge")
        if config.conv_activation and i < n - 1:
            x = activate(x, config.synth_activation)
    if "stabiliser" in params:  # Cool-chic 5: a linear map of the features added to the output
        x += pixel_mlp([params["stabiliser"]], feats)
    x = colour.output_transform(x, config.output_range)
    return np.clip(colour.subsample(x, config.colour), 0.0, 1.0)


def reconstruct(params: dict, latents: list, config: ModelConfig, height: int, width: int) -> np.ndarray:
    return synthesize(params["synthesis"], upsample(params["upsampling"], latents, config, height, width), config)
