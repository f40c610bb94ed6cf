"""Upsampling and synthesis in numpy (float32), the reconstruction both encoder and decoder use.

The codec computes the final image on the host with this one code path: the encoder reports
exactly what any decoder will produce, decoding needs no XLA compilation (a fresh process decodes
in well under a second), and a stream written after fitting on a GPU decodes to the same pixels on
a CPU. It mirrors coolchic.upsampling / coolchic.synthesis, which the JAX training path uses.
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .upsampling import bilinear_phase_weights, phase_offsets


def _bilinear_axis(x: np.ndarray, factor: int, axis: int) -> np.ndarray:
    if factor == 1:
        return x
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 1)
    xp = np.pad(x, pad, mode="edge")
    wts = bilinear_phase_weights(factor)
    bshape = [1] * (x.ndim + 1)
    bshape[axis + 1] = factor
    y = None
    for d in (-1, 0, 1):
        if not wts[d + 1].any():
            continue
        term = np.expand_dims(np.take(xp, np.arange(1 + d, 1 + d + n), axis=axis), axis + 1) * wts[d + 1].reshape(bshape)
        y = term if y is None else y + term
    shape = list(y.shape)
    shape[axis : axis + 2] = [n * factor]
    return y.reshape(shape)


def _phase_filter_axis(x: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    n = x.shape[axis]
    taps = kernel.shape[1] * 2
    offs = [phase_offsets(taps, r) for r in (0, 1)]
    lo = -min(o.start for o in offs)
    hi = max(o.stop - 1 for o in offs)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (lo, hi)
    xp = np.pad(x, pad, mode="edge")
    phases = []
    for r in (0, 1):
        acc = None
        for t, off in enumerate(offs[r]):
            term = kernel[r, t] * np.take(xp, np.arange(lo + off, lo + off + n), axis=axis)
            acc = term if acc is None else acc + term
        phases.append(acc)
    y = np.stack(phases, axis=axis + 1)
    shape = list(y.shape)
    shape[axis : axis + 2] = [n * 2]
    return y.reshape(shape)


def upsample(params: dict, grids: list, config: ModelConfig, height: int, width: int) -> np.ndarray:
    grids = [np.asarray(g, np.float32) for g in grids]
    if config.upsampling == "bilinear":
        out = np.empty((len(grids), height, width), np.float32)
        for i, g in enumerate(grids):
            s = 2**i
            out[i] = _bilinear_axis(_bilinear_axis(g, s, 0), s, 1)[:height, :width]
        return out
    x = grids[-1][None]
    for level in range(len(grids) - 2, -1, -1):
        k = np.asarray(params["kernels"][level], np.float32)
        x = _phase_filter_axis(_phase_filter_axis(x, k, 1), k, 2)
        h, w = grids[level].shape
        x = np.concatenate([grids[level][None], x[:, :h, :w]], 0)
    return np.ascontiguousarray(x[:, :height, :width])


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
