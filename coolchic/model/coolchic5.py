"""Cool-chic 5's intra decoder as a model family (its `lop`, `mop`, `hop` and `vhop` configurations).

params = {"latents": [L_0 (finest) ... L_{n-1}, hyperlatents finest first],
          "arm": {"layers", "stabiliser", "ifce"}, "upsampling": {"kernels", "preconcat"},
          "synthesis": {"layers", "convs", "stabiliser"}}.

Entropy order: all grids sorted by resolution, finest first, a latent before the hyperlatent of
the same resolution; grids are coded from the last (coarsest) to the first, so the IFCE of grid
e (e < ifce_grids) may read every grid after it. The upsampling and the synthesis see only the
latents. Written from the facts of Cool-chic 5.0.1 (coolchic/component/core/*.py); differs on
purpose in one place: the ARM's ReLUs and the IFCE outputs are bounded (as this library's other
ARMs), so that the fixed-point coder's integers stay exact.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.config import CoolChic5Config
from coolchic.model.arm import HIDDEN_MAX, canvas_bits, to_canvas
from coolchic.model.contract import Model
from coolchic.model.image import image_functions
from coolchic.model.latents import pyramid
from coolchic.model.upsampling import _shift, phase_filter_axis

LOG_SCALE_SHIFT = 4.0  # the ARM's log-scale output is raw - 4 (scale exp(-4) at initialisation)
IFCE_MAX = 64.0  # IFCE outputs are clipped to +-IFCE_MAX (exact fixed point, see module docstring)
BICUBIC_HALF = (-0.0351562, -0.1054687, 0.2617187, 0.8789063)  # 8-tap bicubic (a = -0.75), half


# ----------------------------------------------------------------------------- grids


def levels(config: CoolChic5Config) -> list[int]:
    """Resolution level (grid is 1/2^level) of each entry of params["latents"]."""
    return list(range(config.n_grids)) + list(config.hyper_levels)


@functools.lru_cache(maxsize=64)
def entropy_order(config: CoolChic5Config) -> tuple[int, ...]:
    """Indices into params["latents"] in entropy order (finest first; coding runs last to first)."""
    lv = levels(config)
    return tuple(sorted(range(len(lv)), key=lambda i: (lv[i], i >= config.n_grids)))


def grid_shapes(config: CoolChic5Config, height: int, width: int) -> list[tuple[int, int]]:
    shapes = pyramid((height, width), max(levels(config)) + 1)
    return [shapes[lv] for lv in levels(config)]


def nearest(grid, factor_log2: int, shape: tuple, xnp=jnp):
    """Nearest-neighbour upsampling of the last two axes by 2^factor_log2, cropped to shape."""
    f = 2**factor_log2
    if f > 1:
        grid = xnp.repeat(xnp.repeat(grid, f, axis=-2), f, axis=-1)
    return grid[..., : shape[0], : shape[1]]


# ----------------------------------------------------------------------------- initialisation


def _linear(key, n_in: int, n_out: int, scale: float) -> dict:
    return {"w": jax.random.normal(key, (n_out, n_in)) * scale, "b": jnp.zeros((n_out,))}


def init_arm(key, config: CoolChic5Config, shapes: list) -> dict:
    """Residual layers at zero (the identity), output, stabiliser and IFCE layers N(0, 1) / out^2,
    zero biases (Cool-chic 5's ArmLinear init)."""
    d = config.arm_context + config.ifce_features
    keys = jax.random.split(key, 2 + max(config.ifce_grids, 1))
    layers = [{"w": jnp.zeros((d, d)), "b": jnp.zeros((d,))} for _ in range(config.arm_layers)]
    layers.append(_linear(keys[0], d, 2, 1.0 / 4))
    n = len(shapes)
    f = config.ifce_features
    ifce = [_linear(keys[2 + e], n - 1 - e, f, 1.0 / f**2) for e in range(config.ifce_grids) if f]
    return {"layers": layers, "stabiliser": _linear(keys[1], d, 2, 1.0 / 4), "ifce": ifce}


def symmetric_kernel(half, taps: int, xnp=jnp):
    """The full symmetric kernel of `taps` taps from its ceil(taps / 2) free parameters."""
    return xnp.concatenate([half, half[::-1][taps % 2 :]])


def init_upsampling(config: CoolChic5Config) -> dict:
    """Transposed convs at 8-tap bicubic (other sizes: bilinear-like triangle), pre-concatenation
    filters at the Dirac (their output is then twice the grid: the filter plus the residual).
    Cool-chic 5 starts from the negated bicubic kernel; with the synthesis' symmetric random
    init the sign makes no difference, so the interpolating sign is used."""
    n = config.n_grids - 1
    half_t = config.upsampling_taps // 2
    if config.upsampling_taps == 8:
        t = np.array(BICUBIC_HALF, np.float32)
    else:  # half-pixel linear interpolation written as a symmetric kernel
        t = np.zeros(half_t, np.float32)
        t[-2:] = (0.25, 0.75) if half_t >= 2 else (1.0,)
    half_p = (config.preconcat_taps + 1) // 2
    p = np.zeros(half_p, np.float32)
    p[-1] = 1.0
    return {"kernels": [jnp.asarray(t) for _ in range(n)], "preconcat": [jnp.asarray(p) for _ in range(n)]}


def init_synthesis(key, config: CoolChic5Config) -> dict:
    """Linear layers U(+-1 / sqrt(fan_in)) / out^2 with zero biases, residual convs at zero."""
    dims = (config.n_grids, *config.synth_hidden, config.out_channels)
    keys = jax.random.split(key, len(dims))

    def linear(k, a, b):
        bound = 1.0 / np.sqrt(a)
        return {"w": jax.random.uniform(k, (b, a), minval=-bound, maxval=bound) / b**2, "b": jnp.zeros((b,))}

    c = config.out_channels
    return {
        "layers": [linear(k, a, b) for k, a, b in zip(keys, dims[:-1], dims[1:])],
        "convs": [{"w": jnp.zeros((c, c, 3, 3)), "b": jnp.zeros((c,))} for _ in range(config.synth_convs)],
        "stabiliser": linear(keys[-1], config.n_grids, c),
    }


def init_params(key, config: CoolChic5Config, height: int, width: int) -> dict:
    k_arm, k_syn = jax.random.split(key)
    shapes = grid_shapes(config, height, width)
    return {
        "latents": [jnp.zeros(s, jnp.float32) for s in shapes],
        "arm": init_arm(k_arm, config, shapes),
        "upsampling": init_upsampling(config),
        "synthesis": init_synthesis(k_syn, config),
    }


# ----------------------------------------------------------------------------- upsampling


def tconv_phases(half, taps: int, xnp=jnp):
    """(2, taps // 2) phase kernel (coolchic.model.upsampling.phase_filter_axis) of the stride-2
    transposed conv by the symmetric kernel w, edge-padded and cropped to 2n: output 2p + r reads
    w[taps - 1 - r - 2t] at the t-th offset of phase r."""
    w = symmetric_kernel(half, taps, xnp)
    return xnp.stack([xnp.stack([w[taps - 1 - r - 2 * t] for t in range(taps // 2)]) for r in (0, 1)])


def preconcat_filter(half, grid, taps: int, xnp=jnp):
    """grid + (w (x) w) * grid: the separable symmetric filter with zero padding, plus the residual."""
    w = symmetric_kernel(half, taps, xnp)
    r = taps // 2
    y = grid
    for axis in (0, 1):
        n = y.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        yp = xnp.pad(y, pad)
        y = sum(w[t] * _shift(yp, t, n, axis) for t in range(taps))
    return grid + y


def upsample(params: dict, grids: list, config: CoolChic5Config, height: int, width: int, xnp=jnp):
    """(n_grids, height, width) features from the latents (finest first): from the coarsest, each
    level upsamples the stack so far (one 1-channel kernel for every channel) and puts the
    pre-concatenation-filtered grid of that level in front of it."""
    x = grids[config.n_grids - 1][None]
    for level in range(config.n_grids - 2, -1, -1):
        k = tconv_phases(params["kernels"][level], config.upsampling_taps, xnp)
        x = phase_filter_axis(phase_filter_axis(x, k, 1, xnp), k, 2, xnp)
        g = grids[level]
        h, w = g.shape
        t = preconcat_filter(params["preconcat"][level], g, config.preconcat_taps, xnp)
        x = xnp.concatenate([t[None], x[:, :h, :w]], 0)
    return x[:, :height, :width]


# ----------------------------------------------------------------------------- entropy model


def ifce_inputs(grids: list, config: CoolChic5Config, e: int, xnp=jnp):
    """(C_in, h, w): the grids after entropy position e, at the resolution of the grid at e + 1."""
    order = entropy_order(config)
    lv = levels(config)
    tgt = order[e + 1]
    shape = grids[tgt].shape
    return xnp.concatenate([nearest(grids[g], lv[g] - lv[tgt], shape, xnp)[None] for g in order[e + 1 :]], 0)


def ifce_features(arm: dict, grids: list, config: CoolChic5Config) -> list:
    """(F, h, w) IFCE features of every grid of params["latents"] (zeros without an IFCE)."""
    order = entropy_order(config)
    lv = levels(config)
    f = config.ifce_features
    feats = [jnp.zeros((f, *g.shape), jnp.float32) for g in grids]
    for e, layer in enumerate(arm["ifce"]):
        g = order[e]
        x = ifce_inputs(grids, config, e)
        c, h, w = x.shape
        y = (layer["w"] @ x.reshape(c, h * w) + layer["b"][:, None]).reshape(f, h, w)
        y = jnp.clip(y, -IFCE_MAX, IFCE_MAX)
        feats[g] = nearest(y, lv[order[e + 1]] - lv[g], grids[g].shape)
    return feats


def arm_forward(arm: dict, x: jnp.ndarray) -> jnp.ndarray:
    """(d, N) contexts -> (2, N) (mu, log-scale): residual bounded-ReLU layers, output + stabiliser."""
    h = x
    for layer in arm["layers"][:-1]:
        h = jnp.clip(layer["w"] @ h + layer["b"][:, None] + h, 0.0, HIDDEN_MAX)
    out, stab = arm["layers"][-1], arm["stabiliser"]
    y = out["w"] @ h + stab["w"] @ x + (out["b"] + stab["b"])[:, None]
    return y - jnp.array([0.0, LOG_SCALE_SHIFT])[:, None]


def rate_bits(params: dict, latents: list, config: CoolChic5Config) -> jnp.ndarray:
    """Total bits of the latents and hyperlatents under the ARM (spatial context + IFCE)."""
    arm = params["arm"]
    canvas, mask = to_canvas(latents, config)
    extra = None
    if config.ifce_features:
        extra, _ = to_canvas(ifce_features(arm, latents, config), config)
    return canvas_bits(arm, canvas, mask, config, extra=extra, forward=arm_forward)


# ----------------------------------------------------------------------------- synthesis


def features(params: dict, latents: list, config: CoolChic5Config, height: int, width: int):
    return upsample(params["upsampling"], latents[: config.n_grids], config, height, width)


decode_image, rd_terms = image_functions(features, rate_bits)


COOLCHIC5_MODEL = Model(
    name="coolchic5",
    n_dims=2,
    init_params=init_params,
    grid_shapes=grid_shapes,
    rate_bits=rate_bits,
    rd_terms=rd_terms,
    decode=decode_image,
)
