"""Range coding of integer latents with the fixed-point ARM, decoded in wavefronts.

All grids sit on one zero-padded canvas (coolchic.model.arm.canvas_layout). Inside a grid, latent
(y, x) only depends on latents with a smaller t = x + k*y (k = the context's reach to the right
+ 1), so all latents of all grids sharing a t are independent: the decoder handles each t in one
batch (one context gather, one integer MLP, one constriction call). The symbol order of the
stream is this (t, grid, y, x) order for the encoder too, so any grouping of the decoder's work
(e.g. smaller batches) reads the same symbols.
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

from coolchic.model.arm import canvas_layout
from coolchic.config import ModelConfig
from coolchic.coding.fixed_arm import LATENT_MAX, LATENT_MIN, fixed_forward, laplace_bits_np, laplace_params

MODEL = constriction.stream.model.QuantizedLaplace(LATENT_MIN, LATENT_MAX)


@functools.lru_cache(maxsize=16)
def schedule(shapes: tuple, config: ModelConfig):
    """(canvas_shape, positions in stream order (flat canvas indices), step bounds, context offsets)."""
    places, (hc, wc) = canvas_layout(list(shapes), config)
    k = max([dx for dy, dx in config.context if dy < 0] + [0]) + 1
    pos, key_t, key_g = [], [], []
    for gi, ((h, w), (r, c)) in enumerate(zip(shapes, places)):
        yy, xx = np.mgrid[0:h, 0:w]
        pos.append(((r + yy) * wc + (c + xx)).ravel())
        key_t.append((xx + k * yy).ravel())
        key_g.append(np.full(h * w, gi))
    pos, key_t, key_g = (np.concatenate(a) for a in (pos, key_t, key_g))
    order = np.lexsort((pos, key_g, key_t))  # by t, then grid, then raster position
    pos, key_t = pos[order], key_t[order]
    bounds = np.flatnonzero(np.diff(key_t)) + 1
    bounds = np.concatenate([[0], bounds, [len(pos)]])
    offsets = np.array([dy * wc + dx for dy, dx in config.context], np.int64)
    return (hc, wc), places, pos.astype(np.int64), bounds, offsets


def _canvas(latents: list, config: ModelConfig) -> np.ndarray:
    shapes = tuple(g.shape for g in latents)
    (hc, wc), places, *_ = schedule(shapes, config)
    canvas = np.zeros((hc, wc), np.float64)
    for g, (r, c) in zip(latents, places):
        canvas[r : r + g.shape[0], c : c + g.shape[1]] = g
    return canvas


def distributions(flat: np.ndarray, pos: np.ndarray, offsets: np.ndarray, arm_fixed, chunk: int = 65536):
    """(symbols, mean, scale) of the latents at flat positions `pos` (stream order), whose context
    is flat[pos + offsets] (offsets (n_context,) or per position (N, n_context))."""
    mus, lss = [], []
    for s in range(0, len(pos), chunk):
        p = pos[s : s + chunk]
        offs = offsets if offsets.ndim == 1 else offsets[s : s + chunk]
        mu, ls = fixed_forward(arm_fixed, flat[p[:, None] + offs])
        mus.append(mu)
        lss.append(ls)
    mean, scale = laplace_params(np.concatenate(mus), np.concatenate(lss))
    return flat[pos].astype(np.int32), mean, scale


def encode_symbols(y: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Range-code integer latents: (uint32 words, ideal bits)."""
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(y, MODEL, mean, scale)
    return enc.get_compressed(), float(laplace_bits_np(y, mean, scale).sum())


def decode_wavefronts(words: np.ndarray, arm_fixed, size: int, pos: np.ndarray, bounds: np.ndarray,
                      offsets: np.ndarray, max_batch: int | None = None) -> np.ndarray:
    """Inverse of encode_symbols over a flat canvas of `size` zeros: the latents between two bounds
    are independent given what precedes them, so each wavefront is one batch."""
    flat = np.zeros(size, np.float64)
    dec = constriction.stream.queue.RangeDecoder(words)
    for s0, s1 in zip(bounds[:-1], bounds[1:]):
        step = max_batch or (s1 - s0)
        for a in range(s0, s1, step):
            b = min(a + step, s1)
            p = pos[a:b]
            offs = offsets if offsets.ndim == 1 else offsets[a:b]
            mu, ls = fixed_forward(arm_fixed, flat[p[:, None] + offs])
            mean, scale = laplace_params(mu, ls)
            flat[p] = dec.decode(MODEL, mean, scale)
    return flat


def latent_distributions(latents: list, arm_fixed, config: ModelConfig, chunk: int = 65536):
    """(symbols, mean, scale) of every latent in stream order, computed all at once (encoder side)."""
    shapes = tuple(g.shape for g in latents)
    _, _, pos, _, offs = schedule(shapes, config)
    return distributions(_canvas(latents, config).ravel(), pos, offs, arm_fixed, chunk)


def encode_latents(latents: list, arm_fixed, config: ModelConfig) -> tuple[np.ndarray, float]:
    """Integer grids (already clamped) -> (uint32 words, ideal bits)."""
    return encode_symbols(*latent_distributions(latents, arm_fixed, config))


def decode_latents(words: np.ndarray, arm_fixed, config: ModelConfig, shapes: list, max_batch: int | None = None) -> list:
    """Inverse of encode_latents. max_batch splits wavefront steps (same result, for testing)."""
    shapes = tuple(tuple(s) for s in shapes)
    (hc, wc), places, pos, bounds, offs = schedule(shapes, config)
    flat = decode_wavefronts(words, arm_fixed, hc * wc, pos, bounds, offs, max_batch)
    canvas = flat.reshape(hc, wc)
    return [canvas[r : r + h, c : c + w].copy() for (h, w), (r, c) in zip(shapes, places)]
