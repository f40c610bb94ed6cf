"""Bring every latent grid to full resolution.

bilinear (C3): grid i is interpolated straight to full resolution by the integer factor 2^i with
    half-pixel alignment and edge clamping, then cropped to H x W.
learned (Cool-chic): a cascade of separable 2x transposed convolutions, one learned kernel per
    level, initialised to bicubic; each level upsamples the stack of coarser grids, crops it to the
    next grid's size and appends that grid.
Both are written as phase filters on edge-padded shifted views (no gather, no dense resize
matrices), which fuse well in XLA and have cheap transposes.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from coolchic.config import ModelConfig
from coolchic.model.arrays import stack_first


def _cubic(d: float, a: float = -0.5) -> float:
    """Keys cubic convolution kernel; a = -0.5 reproduces linear and quadratic signals."""
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def phase_offsets(taps: int, phase: int) -> range:
    """Input offsets read by output phase r of a 2x upsampling with `taps`-tap kernel."""
    half = taps // 2
    return range(-half // 2 - (half % 2) + phase, half - half // 2 + phase)


def bicubic_kernel(taps: int) -> np.ndarray:
    """(2, taps // 2) phase weights of 2x bicubic upsampling (half-pixel aligned)."""
    k = np.zeros((2, taps // 2), np.float32)
    for r in (0, 1):
        centre = (r + 0.5) / 2 - 0.5  # input coordinate of output 2j + r, relative to j
        for t, off in enumerate(phase_offsets(taps, r)):
            k[r, t] = _cubic(off - centre)
        k[r] /= k[r].sum()
    return k


def _interleave(phases: list, axis: int, xnp=jnp) -> jnp.ndarray:
    """Stack per-phase outputs along a new axis after `axis` and merge: out[s*j + r] = phases[r][j]."""
    y = xnp.stack(phases, axis=axis + 1)
    shape = list(y.shape)
    shape[axis : axis + 2] = [shape[axis] * shape[axis + 1]]
    return y.reshape(shape)


def _shift(xp: jnp.ndarray, start: int, length: int, axis: int) -> jnp.ndarray:
    idx = [slice(None)] * xp.ndim
    idx[axis] = slice(start, start + length)
    return xp[tuple(idx)]


def bilinear_phase_weights(factor: int) -> np.ndarray:
    """(3, factor) weights: output s*j + r = sum_d w[d + 1, r] * x[j + d] for d in (-1, 0, 1)."""
    wts = np.zeros((3, factor), np.float32)
    for r in range(factor):
        pos = (r + 0.5) / factor - 0.5
        d = math.floor(pos)
        f = pos - d
        wts[d + 1, r] += 1 - f
        wts[d + 2, r] += f
    return wts


def bilinear_matrix(n: int, factor: int) -> np.ndarray:
    """(factor * n, n) matrix of half-pixel bilinear upsampling with clamped edges."""
    wts = bilinear_phase_weights(factor)
    m = np.zeros((factor * n, n), np.float32)
    for j in range(n):
        for d in (-1, 0, 1):
            m[factor * j : factor * (j + 1), min(max(j + d, 0), n - 1)] += wts[d + 1]
    return m


# Largest factor upsampled with phase filters on shifted views; larger factors act on small grids,
# where a dense interpolation matrix compiles fast and runs (forward and backward) faster than
# dozens of interleaved phases.
MAX_PHASE_FACTOR = 4


def bilinear_axis(x: jnp.ndarray, factor: int, axis: int, xnp=jnp) -> jnp.ndarray:
    """Upsample by an integer factor along one axis: half-pixel bilinear, edges clamped.

    xnp is jax.numpy (training) or numpy (the codec's host decoder): one algorithm for both.
    """
    if factor == 1:
        return x
    n = x.shape[axis]
    if factor > MAX_PHASE_FACTOR:
        m = xnp.asarray(bilinear_matrix(n, factor))
        return xnp.moveaxis(xnp.tensordot(m, x, axes=([1], [axis])), 0, axis)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 1)
    xp = xnp.pad(x, pad, mode="edge")
    wts = bilinear_phase_weights(factor)
    phases = []
    for r in range(factor):
        terms = [float(wts[d + 1, r]) * _shift(xp, 1 + d, n, axis) for d in (-1, 0, 1) if wts[d + 1, r]]
        phases.append(sum(terms[1:], terms[0]))
    return _interleave(phases, axis, xnp)


def phase_filter_axis(x: jnp.ndarray, kernel: jnp.ndarray, axis: int, xnp=jnp) -> jnp.ndarray:
    """2x upsampling along one axis with a (2, taps) phase kernel, edges clamped."""
    n = x.shape[axis]
    taps = kernel.shape[1] * 2
    offs = [phase_offsets(taps, r) for r in (0, 1)]
    lo = -min(o.start for o in offs)
    hi = max(o.stop - 1 for o in offs)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (lo, hi)
    xp = xnp.pad(x, pad, mode="edge")
    phases = [sum(kernel[r, t] * _shift(xp, lo + off, n, axis) for t, off in enumerate(offs[r])) for r in (0, 1)]
    return _interleave(phases, axis, xnp)


def init_upsampling(config: ModelConfig) -> dict:
    if config.upsampling == "bilinear":
        return {}
    k = jnp.asarray(bicubic_kernel(config.upsampling_taps))
    return {"kernels": [k for _ in range(config.n_grids - 1)]}


def upsample(params: dict, grids: list, config: ModelConfig, height: int, width: int, xnp=jnp) -> jnp.ndarray:
    """(n_grids, height, width) features from the list of grids (finest first)."""
    if config.upsampling == "bilinear":
        ups = []
        for i, g in enumerate(grids):
            s = 2**i
            u = bilinear_axis(bilinear_axis(g, s, 0, xnp), s, 1, xnp)
            ups.append(u[:height, :width])
        return stack_first(ups, xnp)
    x = grids[-1][None]
    for level in range(len(grids) - 2, -1, -1):
        k = params["kernels"][level]
        x = phase_filter_axis(phase_filter_axis(x, k, 1, xnp), k, 2, xnp)
        h, w = grids[level].shape
        x = xnp.concatenate([grids[level][None], x[:, :h, :w]], 0)
    return x[:, :height, :width]
