"""The decoder's output format (config.colour) and the distortion it is scored with.

"rgb" (RGB, or gray with one channel) and "yuv444" are three (or one) dense planes: MSE is the
mean over all samples. "yuv420" is Cool-chic 5's: the synthesis still makes dense Y, U, V; each
chroma plane is then averaged over 2x2 blocks (before the clip to [0, 1]), and the MSE is the mean
over all coded samples, (4 MSE_Y + MSE_U + MSE_V) / 6 for even sizes. Odd sizes have
ceil(H/2) x ceil(W/2) chroma, the last row/column replicated into its block (as ffmpeg lays out
odd 4:2:0 frames). Images keep the dense (3, H, W) layout throughout, a chroma sample repeated
over its block, so every shape in the fit and the codec stays (C, H, W).

Every function takes channels-first arrays (C, ..., H, W) and works on numpy and jax arrays alike.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from coolchic.config import COLOURS

__all__ = [
    "COLOURS",
    "mse",
    "output_transform",
    "n_samples",
    "planes",
    "pool2",
    "repeat2",
    "squared_error",
    "subsample",
]


def _xp(x):
    return np if isinstance(x, np.ndarray) else jnp


def pool2(x):
    """Mean over 2x2 blocks of the last two axes, replicating the last row/column of odd sizes."""
    xp = _xp(x)
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = xp.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, h % 2), (0, w % 2)], mode="edge")
    y = x.reshape(*x.shape[:-2], x.shape[-2] // 2, 2, x.shape[-1] // 2, 2)
    return y.mean(axis=(-3, -1))


def repeat2(x, height: int, width: int):
    """Each sample of the last two axes repeated over its 2x2 block, cropped to height x width."""
    xp = _xp(x)
    return xp.repeat(xp.repeat(x, 2, axis=-2), 2, axis=-1)[..., :height, :width]


def output_transform(x, output_range: tuple):
    """low + (high - low) * x per channel of x (C, ..., H, W) (config.output_range; () is the identity)."""
    if not output_range:
        return x
    lo, hi = (np.asarray(v, np.float32).reshape(-1, *[1] * (x.ndim - 1)) for v in zip(*output_range))
    return lo + (hi - lo) * x


def subsample(x, colour: str):
    """The decoder's output (C, H, W) in this format: 4:2:0 chroma pooled and repeated back."""
    if colour != "yuv420":
        return x
    xp = _xp(x)
    h, w = x.shape[-2:]
    return xp.concatenate([x[:1], repeat2(pool2(x[1:]), h, w)], axis=0)


def n_samples(shape: tuple, colour: str) -> int:
    """Coded samples of an output of this (C, ..., H, W) shape."""
    if colour != "yuv420":
        return int(np.prod(shape))
    *lead, h, w = shape[1:]
    per = int(np.prod(lead)) if lead else 1
    return per * (h * w + 2 * ((h + 1) // 2) * ((w + 1) // 2))


def squared_error(x, target, colour: str, clip: bool = False):
    """Sum of squared errors over the coded samples: 4:2:0 chroma compared pooled, once per
    sample (x not yet subsampled; target in the dense layout). clip: x clipped to [0, 1] first
    (after the pooling, as the decoder does)."""
    xp = _xp(x)
    out = (lambda v: xp.clip(v, 0.0, 1.0)) if clip else (lambda v: v)
    if colour != "yuv420":
        return ((out(x) - target) ** 2).sum()
    return ((out(x[:1]) - target[:1]) ** 2).sum() + ((out(pool2(x[1:])) - pool2(target[1:])) ** 2).sum()


def mse(x, target, colour: str = "rgb"):
    """Mean squared error over the coded samples (PSNR as Cool-chic 5 reports it for YUV)."""
    return squared_error(x, target, colour) / n_samples(x.shape, colour)


def planes(pixels: np.ndarray, colour: str) -> list[np.ndarray]:
    """The planes a file stores, from (C, H, W): 4:2:0 chroma at ceil(H/2) x ceil(W/2)."""
    if colour != "yuv420":
        return list(pixels)
    return [pixels[0], pixels[1, ::2, ::2], pixels[2, ::2, ::2]]
