"""Range coding of integer latents with the fixed-point ARM, decoded in wavefronts.

One code path for images and videos: an image grid (h, w) is a video grid (1, h, w) whose ARM
reads no previous frame. Each grid has its own block of one flat zero canvas, frame after frame
(after a leading zero frame -1 when the ARM reads the previous frame), each frame with margins as
wide as the context reaches, so a latent sees exactly the zeros it would see alone and its
context is a constant flat offset per grid. Latent (t, y, x) depends on frame t's causal
neighbours and on frame t-1, so latents with equal key t*K + x + k*y (k = the context's reach to
the right + 1, K larger than any x + k*y) are independent: the decoder handles each key of all
grids in one batch (one context gather, one integer MLP, one constriction call). The stream's
symbol order is (key, grid, raster position) for the encoder too, so any grouping of the
decoder's work (e.g. smaller batches) reads the same symbols.
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

from coolchic.coding.fixed_arm import LATENT_MAX, LATENT_MIN, fixed_forward, laplace_bits_np, laplace_params
from coolchic.config import ModelConfig
from coolchic.model.video import pads

MODEL = constriction.stream.model.QuantizedLaplace(LATENT_MIN, LATENT_MAX)


@functools.lru_cache(maxsize=16)
def schedule(shapes: tuple, context: tuple, prev: tuple):
    """Canvas and stream order of grids `shapes` ((t, h, w) each) whose ARM reads `context` in
    the latent's frame and prev[g] in frame t - 1: (canvas size, per-grid (base, lead, rows, cols,
    top, left), positions in stream order, wavefront bounds, per-grid context offsets, grid of
    each position)."""
    k = max([dx for dy, dx in context if dy < 0] + [0]) + 1
    big_k = max(w - 1 + k * (h - 1) for _, h, w in shapes) + 1
    lead = int(any(prev))  # a zero frame -1 for the previous-frame window to read
    layout, pos, key, gid, offsets = [], [], [], [], []
    base = 0
    for g, ((t, h, w), prev_g) in enumerate(zip(shapes, prev)):
        top, bottom, left, right = pads(list(context) + list(prev_g))
        hp, wp = top + h + bottom, left + w + right
        layout.append((base, lead, hp, wp, top, left))
        tt, yy, xx = np.mgrid[0:t, 0:h, 0:w]
        pos.append((base + ((tt + lead) * hp + top + yy) * wp + left + xx).ravel())
        key.append((tt * big_k + xx + k * yy).ravel())
        gid.append(np.full(t * h * w, g, np.uint8))
        offsets.append([dy * wp + dx for dy, dx in context] + [(dy - hp) * wp + dx for dy, dx in prev_g])
        base += (t + lead) * hp * wp
    pos, key, gid = (np.concatenate(a) for a in (pos, key, gid))
    order = np.lexsort((pos, gid, key))  # by key, then grid, then raster position
    pos, key, gid = pos[order], key[order], gid[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1, [len(pos)]])
    return base, tuple(layout), pos.astype(np.int64), bounds, np.array(offsets, np.int64), gid


def _plan(shapes, config: ModelConfig):
    """(grid shapes as (t, h, w), schedule) of grids of these shapes (2-D for images)."""
    shapes3 = tuple((1, *s) if len(s) == 2 else tuple(s) for s in shapes)
    n = len(shapes3)
    prev = tuple(config.prev_context(g) for g in range(n)) if config.is_video else ((),) * n
    return shapes3, schedule(shapes3, tuple(config.context), prev)


def _grid_views(flat: np.ndarray, shapes3: tuple, layout: tuple) -> list:
    """Each grid's (t, h, w) latents as a view of the flat canvas."""
    views = []
    for (t, h, w), (base, lead, hp, wp, top, left) in zip(shapes3, layout):
        block = flat[base : base + (t + lead) * hp * wp].reshape(t + lead, hp, wp)
        views.append(block[lead:, top : top + h, left : left + w])
    return views


def contexts(flat: np.ndarray, p: np.ndarray, offsets: np.ndarray, gid: np.ndarray, extra=None) -> np.ndarray:
    """(N, n_inputs) ARM inputs of the latents at flat positions p: flat[p + offsets[gid]], then
    extra[p] (more inputs per position, e.g. Cool-chic 5's IFCE features) when given."""
    ctx = flat[p[:, None] + offsets[gid]]
    return ctx if extra is None else np.concatenate([ctx, extra[p]], 1)


def distributions(
    flat: np.ndarray,
    pos: np.ndarray,
    offsets: np.ndarray,
    gid: np.ndarray,
    arm_fixed,
    chunk: int = 65536,
    extra=None,
    forward=fixed_forward,
):
    """(symbols, mean, scale) of the latents at flat positions `pos` (stream order), whose context
    is flat[pos + offsets[gid]] (offsets: one row per grid), then extra[pos]; forward is the
    fixed-point ARM."""
    mus, lss = [], []
    for s in range(0, len(pos), chunk):
        p = pos[s : s + chunk]
        mu, ls = forward(arm_fixed, contexts(flat, p, offsets, gid[s : s + chunk], extra))
        mus.append(mu)
        lss.append(ls)
    mean, scale = laplace_params(np.concatenate(mus), np.concatenate(lss))
    return flat[pos].astype(np.int32), mean, scale


def encode_symbols(y: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, float]:
    """Range-code integer latents: (uint32 words, ideal bits)."""
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(y, MODEL, mean, scale)
    return enc.get_compressed(), float(laplace_bits_np(y, mean, scale).sum())


def decode_wavefronts(
    words,
    arm_fixed,
    size: int,
    pos: np.ndarray,
    bounds: np.ndarray,
    offsets: np.ndarray,
    gid: np.ndarray,
    max_batch: int | None = None,
    extra=None,
    forward=fixed_forward,
) -> np.ndarray:
    """Inverse of encode_symbols over a flat canvas of `size` zeros: the latents between two bounds
    are independent given what precedes them, so each wavefront is one batch. words: the uint32
    words, or a constriction RangeDecoder to go on reading from."""
    flat = np.zeros(size, np.float64)
    dec = (
        words
        if isinstance(words, constriction.stream.queue.RangeDecoder)
        else constriction.stream.queue.RangeDecoder(words)
    )
    for s0, s1 in zip(bounds[:-1], bounds[1:]):
        step = max_batch or (s1 - s0)
        for a in range(s0, s1, step):
            b = min(a + step, s1)
            p = pos[a:b]
            mu, ls = forward(arm_fixed, contexts(flat, p, offsets, gid[a:b], extra))
            mean, scale = laplace_params(mu, ls)
            flat[p] = dec.decode(MODEL, mean, scale)
    return flat


def latent_distributions(latents: list, arm_fixed, config: ModelConfig, chunk: int = 65536):
    """(symbols, mean, scale) of every latent in stream order, computed all at once (encoder side)."""
    shapes3, (size, layout, pos, _, offsets, gid) = _plan(tuple(np.shape(g) for g in latents), config)
    flat = np.zeros(size, np.float64)
    for view, g in zip(_grid_views(flat, shapes3, layout), latents):
        view[...] = np.reshape(g, view.shape)
    return distributions(flat, pos, offsets, gid, arm_fixed, chunk)


def encode_latents(latents: list, arm_fixed, config: ModelConfig) -> tuple[np.ndarray, float]:
    """Integer grids (already clamped; (h, w) for images, (t, h, w) for videos) -> (uint32 words,
    ideal bits)."""
    return encode_symbols(*latent_distributions(latents, arm_fixed, config))


def decode_latents(
    words: np.ndarray, arm_fixed, config: ModelConfig, shapes: list, max_batch: int | None = None
) -> list:
    """Inverse of encode_latents: grids of these shapes. max_batch splits wavefront steps (same
    result, for testing)."""
    shapes = tuple(tuple(s) for s in shapes)
    shapes3, (size, layout, pos, bounds, offsets, gid) = _plan(shapes, config)
    flat = decode_wavefronts(words, arm_fixed, size, pos, bounds, offsets, gid, max_batch)
    return [v.reshape(s).copy() for v, s in zip(_grid_views(flat, shapes3, layout), shapes)]
