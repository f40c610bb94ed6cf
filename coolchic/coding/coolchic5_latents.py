"""Range coding of Cool-chic 5 latents: its ARM (residual layers, stabiliser, IFCE) in fixed point.

Grids are coded one after the other in reverse entropy order (coarsest first, coolchic.model.
coolchic5.entropy_order), each in wavefronts (coolchic.coding.latent_coding), so that when a grid
is decoded every grid its IFCE reads is already known. Fixed point, as the other ARM's: latents
are integers in [LATENT_MIN, LATENT_MAX]; weights are integers at 2^16, biases at 2^32, products
and sums exact in float64 (every operand below 2^53). The IFCE gives its features with 8
fractional bits, clipped to +-IFCE_MAX; the ARM sees its spatial inputs and the features in Q16,
its residual layers fold the identity into their weights, apply the bounded ReLU and >> 16; the
output layer plus the stabiliser, minus the log-scale shift, >> 24 give mu and log-scale in Q8.
"""

from __future__ import annotations

import constriction
import numpy as np

from coolchic.coding.fixed_arm import _OUT_MAX, _OUT_MIN, FRAC, layer_ints
from coolchic.coding.latent_coding import decode_wavefronts, distributions, encode_symbols, schedule
from coolchic.config import CoolChic5Config
from coolchic.model.arm import HIDDEN_MAX
from coolchic.model.coolchic5 import IFCE_MAX, LOG_SCALE_SHIFT, entropy_order, ifce_inputs, levels, nearest

IFCE_LIMIT = IFCE_MAX * 2.0**FRAC


def arm_to_fixed(arm: dict, config: CoolChic5Config) -> dict:
    """Integer (as float64) layers of a quantized Cool-chic 5 ARM, ready for fixed_forward."""
    d = config.arm_context + config.ifce_features
    scale = np.array([2.0**16] * config.arm_context + [2.0**8] * config.ifce_features)  # inputs -> Q16
    hidden = [(wt + 2.0**16 * np.eye(d), b) for wt, b in map(layer_ints, arm["layers"][:-1])]
    wo, bo = layer_ints(arm["layers"][-1])
    ws, bs = layer_ints(arm["stabiliser"])
    bias = bo + bs - np.array([0.0, LOG_SCALE_SHIFT * 2.0**32])
    ifce = [(wt * 2.0**16, b) for wt, b in map(layer_ints, arm["ifce"])]
    return {"scale": scale, "hidden": hidden, "out": (wo, ws, bias), "ifce": ifce}


def fixed_forward(fixed: dict, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ctx (N, d): integer context latents, then IFCE features in Q8 -> (mu_index, log_scale_index)."""
    x = np.asarray(ctx, np.float64) * fixed["scale"]
    h = x
    hmax = HIDDEN_MAX * 2.0**16
    for wt, b in fixed["hidden"]:
        acc = h @ wt
        acc += b
        acc *= 2.0**-16
        np.floor(acc, out=acc)
        np.maximum(acc, 0.0, out=acc)
        h = np.minimum(acc, hmax, out=acc)
    wo, ws, bias = fixed["out"]
    acc = h @ wo + x @ ws + bias
    acc *= 2.0 ** -(32 - FRAC)
    np.floor(acc, out=acc)
    np.maximum(acc, _OUT_MIN, out=acc)
    np.minimum(acc, _OUT_MAX, out=acc)
    return acc[:, 0], acc[:, 1]


def ifce_fixed(fixed: dict, grids: list, config: CoolChic5Config, e: int) -> np.ndarray:
    """(h, w, F) IFCE features in Q8 of the grid at entropy position e, from the grids after it."""
    order = entropy_order(config)
    lv = levels(config)
    x = ifce_inputs(grids, config, e, xnp=np)
    c, h, w = x.shape
    wt, b = fixed["ifce"][e]
    acc = x.reshape(c, h * w).T.astype(np.float64) @ wt + b  # Q32
    acc = np.clip(np.floor(acc * 2.0**-24), -IFCE_LIMIT, IFCE_LIMIT)
    feats = acc.T.reshape(-1, h, w)
    g = order[e]
    return np.moveaxis(nearest(feats, lv[order[e + 1]] - lv[g], grids[g].shape, xnp=np), 0, -1)


def _grid_plan(shape: tuple, config: CoolChic5Config):
    return schedule(((1, *shape),), tuple(config.context), ((),))


def _view(flat: np.ndarray, layout: tuple, shape: tuple) -> np.ndarray:
    base, lead, hp, wp, top, left = layout[0]
    return flat[base : base + hp * wp].reshape(hp, wp)[top : top + shape[0], left : left + shape[1]]


def _extra(size: int, layout: tuple, feats: np.ndarray | None, config: CoolChic5Config) -> np.ndarray | None:
    """(size, F) features placed at their grid's canvas positions (zeros without an IFCE)."""
    if not config.ifce_features:
        return None
    extra = np.zeros((size, config.ifce_features), np.float64)
    if feats is not None:
        base, lead, hp, wp, top, left = layout[0]
        h, w = feats.shape[:2]
        extra[base : base + hp * wp].reshape(hp, wp, -1)[top : top + h, left : left + w] = feats
    return extra


def _coding_steps(config: CoolChic5Config):
    """(entropy position, grid index) in coding order: coarsest first."""
    order = entropy_order(config)
    return [(e, order[e]) for e in range(len(order) - 1, -1, -1)]


def encode_latents(latents: list, fixed: dict, config: CoolChic5Config) -> tuple[np.ndarray, float]:
    """Integer grids (clamped; params["latents"] order) -> (uint32 words, ideal bits)."""
    grids = [np.asarray(g, np.float64) for g in latents]
    parts = []
    for e, g in _coding_steps(config):
        size, layout, pos, _, offsets, gid = _grid_plan(grids[g].shape, config)
        flat = np.zeros(size, np.float64)
        _view(flat, layout, grids[g].shape)[...] = grids[g]
        feats = ifce_fixed(fixed, grids, config, e) if e < len(fixed["ifce"]) else None
        extra = _extra(size, layout, feats, config)
        parts.append(distributions(flat, pos, offsets, gid, fixed, extra=extra, forward=fixed_forward))
    y, mean, scale = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return encode_symbols(y, mean, scale)


def decode_latents(words: np.ndarray, fixed: dict, config: CoolChic5Config, shapes: list, max_batch=None) -> list:
    """Inverse of encode_latents: grids of these shapes (params["latents"] order)."""
    dec = constriction.stream.queue.RangeDecoder(words)
    grids: list = [np.zeros(tuple(s), np.float64) for s in shapes]
    for e, g in _coding_steps(config):
        shape = tuple(shapes[g])
        size, layout, pos, bounds, offsets, gid = _grid_plan(shape, config)
        feats = ifce_fixed(fixed, grids, config, e) if e < len(fixed["ifce"]) else None
        extra = _extra(size, layout, feats, config)
        flat = decode_wavefronts(dec, fixed, size, pos, bounds, offsets, gid, max_batch, extra, fixed_forward)
        grids[g] = _view(flat, layout, shape).copy()
    return grids
