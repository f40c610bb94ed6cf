"""Upsampling and synthesis in numpy (float32), the reconstruction both encoder and decoder use.

The codec computes the final image on the host with this one code path: the encoder reports
exactly what any decoder will produce, decoding needs no XLA compilation (a fresh process decodes
in well under a second), and a stream written after fitting on a GPU decodes to the same pixels on
a CPU. It mirrors coolchic.upsampling / coolchic.synthesis, which the JAX training path uses.
"""

from __future__ import annotations

import jax
import numpy as np

from . import upsampling
from .config import ModelConfig


def upsample(params: dict, grids: list, config: ModelConfig, height: int, width: int) -> np.ndarray:
    """coolchic.upsampling's algorithm, run by numpy in float32."""
    grids = [np.asarray(g, np.float32) for g in grids]
    params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    out = upsampling.upsample(params, grids, config, height, width, xnp=np)
    return np.ascontiguousarray(out, dtype=np.float32)


_CHUNK = 16384


def synthesize(params: dict, feats: np.ndarray) -> np.ndarray:
    """(C_in, H, W) features -> (C_out, H, W) in [0, 1]."""
    c, h, w = feats.shape
    flat = feats.reshape(c, h * w)
    layers = [(np.asarray(l["w"], np.float32), np.asarray(l["b"], np.float32)[:, None]) for l in params["layers"]]
    x = np.empty((layers[-1][0].shape[0], h * w), np.float32)
    for s0 in range(0, h * w, _CHUNK):  # cache-sized chunks: the MLP is memory-bound otherwise
        y = flat[:, s0 : s0 + _CHUNK]
        for i, (wt, b) in enumerate(layers):
            y = wt @ y
            y += b
            if i < len(layers) - 1:
                np.maximum(y, 0, out=y)
        x[:, s0 : s0 + _CHUNK] = y
    x = x.reshape(-1, h, w)
    for conv in params["convs"]:
        k = np.asarray(conv["w"], np.float32)
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        y = x + np.asarray(conv["b"], np.float32)[:, None, None]
        for dy in range(3):
            for dx in range(3):
                v = xp[:, dy : dy + h, dx : dx + w].reshape(x.shape[0], -1)
                y += (k[:, :, dy, dx] @ v).reshape(y.shape)
        x = y
    return np.clip(x, 0.0, 1.0)


def reconstruct(params: dict, latents: list, config: ModelConfig, height: int, width: int) -> np.ndarray:
    return synthesize(params["synthesis"], upsample(params["upsampling"], latents, config, height, width))
