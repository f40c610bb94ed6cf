"""Analytic multiply-accumulate counts of the baselines, per module and per pixel.

Counted by tracing the model shape-only (``jax.eval_shape``) and intercepting
its leaf layers:

* ``Conv2d`` / ``MaskedConv2d``: ``k*k*Cin*Cout`` per *output* position (the
  masked 5x5 context conv is counted dense, as implemented, although only 12
  of its 25 taps are non-zero);
* ``ConvTranspose2d``: ``k*k*Cin*Cout`` per *input* position (the work without
  the inserted zeros, i.e. ``k*k*Cin*Cout/stride^2`` per output position);
* ``GDN``/``IGDN``: ``C*C`` per position (its 1x1 normalisation conv);
* activations, pixel shuffle, attention gating and the entropy models are not
  counted (negligible element-wise work).

Totals are divided by the image's pixel count ``H*W``. Models are built with
CompressAI's zoo configuration for a given quality (``ZOO_CONFIGS``; quality 1
by default: N=128/M=192 for the Balle and mean-scale models, N=M=192 for
mbt2018, N=128 for cheng2020).
"""

from __future__ import annotations

from collections import OrderedDict

import flax.linen as nn
import jax
import jax.numpy as jnp

from .layers import GDN, Conv2d, ConvTranspose2d
from .models import MODELS, default_config

__all__ = ["MODULE_ORDER", "count_macs", "macs_table", "format_table"]

MODULE_ORDER = ("g_a", "h_a", "h_s", "g_s", "context_prediction", "entropy_parameters")
DECODER_MODULES = ("h_s", "g_s", "context_prediction", "entropy_parameters")


def count_macs(model: nn.Module, height: int, width: int) -> OrderedDict[str, int]:
    """Total MACs of one forward pass on a (1, height, width, 3) image, by top-level module.

    Keys follow :data:`MODULE_ORDER`; modules a model does not have are absent.
    """
    counts: dict = {}

    def interceptor(f, args, kwargs, ctx):
        out = f(*args, **kwargs)
        mod = ctx.module
        if ctx.method_name != "__call__" or not isinstance(mod, (Conv2d, ConvTranspose2d, GDN)):
            return out
        x = args[0]
        cin = x.shape[-1]
        if isinstance(mod, ConvTranspose2d):
            n = mod.kernel_size**2 * cin * mod.features * x.shape[0] * x.shape[1] * x.shape[2]
        elif isinstance(mod, Conv2d):
            n = mod.kernel_size**2 * cin * mod.features * out.shape[0] * out.shape[1] * out.shape[2]
        else:
            n = cin * cin * x.shape[0] * x.shape[1] * x.shape[2]
        top = mod.path[0] if mod.path else type(mod).__name__
        counts[top] = counts.get(top, 0) + int(n)
        return out

    x = jnp.zeros((1, height, width, 3), jnp.float32)
    with nn.intercept_methods(interceptor):
        jax.eval_shape(lambda k: model.init(k, x), jax.random.key(0))
    order = [k for k in MODULE_ORDER if k in counts] + [k for k in counts if k not in MODULE_ORDER]
    return OrderedDict((k, counts[k]) for k in order)


def macs_table(name: str, height: int = 512, width: int = 768, quality: int = 1, **overrides) -> dict:
    """Per-module MACs/pixel of zoo model ``name`` (``overrides``: N, M, head, K)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    kwargs = default_config(name, quality)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    model = MODELS[name](**kwargs)
    f = model.downsampling_factor
    if height <= 0 or width <= 0 or height % f or width % f:
        raise ValueError(f"{name} needs height and width that are positive multiples of {f}")
    counts = count_macs(model, height, width)
    pixels = height * width
    per_pixel = OrderedDict((k, v / pixels) for k, v in counts.items())
    return {
        "model": name,
        "kwargs": kwargs,
        "quality": quality,
        "height": height,
        "width": width,
        "macs_per_pixel": dict(per_pixel),
        "decoder_macs_per_pixel": sum(per_pixel.get(k, 0.0) for k in DECODER_MODULES),
        "total_macs_per_pixel": sum(per_pixel.values()),
    }


def format_table(t: dict) -> str:
    """Human-readable table of :func:`macs_table`'s result."""
    kw = ", ".join(f"{k}={v}" for k, v in t["kwargs"].items())
    lines = [f"{t['model']} ({kw}; quality {t['quality']}) on {t['height']}x{t['width']}", ""]
    lines.append(f"{'module':<20} {'MACs/pixel':>14}")
    for k, v in t["macs_per_pixel"].items():
        lines.append(f"{k:<20} {v:>14,.0f}")
    lines.append(f"{'decoder':<20} {t['decoder_macs_per_pixel']:>14,.0f}")
    lines.append(f"{'total':<20} {t['total_macs_per_pixel']:>14,.0f}")
    return "\n".join(lines)
