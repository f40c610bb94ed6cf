"""Analytic complexity per decoded pixel, per module, in the conventions of C3 and Cool-chic 5.

c3: C3's convention — multiplications only, biases and activations not counted, bilinear
    interpolation counted as 8 per pixel per upsampled grid. C3's Kodak configuration gives 1770.
full: every floating-point operation the decoder performs (multiplies, adds, bias adds,
    activations: a ReLU 1, a tanh-form GELU 8 and its tanh, the residual adds and the final clip),
    divided by 2 — "MAC equivalents" that can be checked against XLA's cost analysis (flops plus
    transcendentals) of the compiled decoder.
coolchic5: Cool-chic 5's own count (its encoder's `*-archi.txt`), for CoolChic5Config only —
    multiplications of the ARM (over latents and hyperlatents, stabiliser included), the IFCE
    layers and the nearest-neighbour upsampling feeding them, the transposed and
    pre-concatenation convolutions on their padded inputs, the synthesis with its stabiliser,
    and 9 per pixel for a fixed 3x3 output transform that Cool-chic 5 counts (this decoder,
    which outputs RGB directly, has none; kept so that totals compare).
"""

from __future__ import annotations

from coolchic.config import CoolChic5Config, ModelConfig
from coolchic.model.latents import grid_shapes, pyramid
from coolchic.model.upsampling import MAX_PHASE_FACTOR

ACTIVATION_OPS = {"relu": 1, "gelu": 9}  # GELU, tanh form: 8 arithmetic operations and a tanh


def _mlp(dims, *, full: bool, activation: str = "relu") -> float:
    """Per-position cost of an MLP with the activation between layers."""
    total = 0.0
    act = ACTIVATION_OPS[activation]
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        if full:
            total += (2 * a * b + b + (act * b if i < len(dims) - 2 else 0)) / 2
        else:
            total += a * b
    return total


def conventions(config: ModelConfig) -> tuple[str, ...]:
    """The counting conventions of a config, its default first."""
    if config.is_video:
        return ("c3", "exact")
    return ("coolchic5",) if isinstance(config, CoolChic5Config) else ("c3", "full")


def coolchic5_macs(config: CoolChic5Config, height: int, width: int) -> dict:
    """Cool-chic 5's count (module docstring) of a CoolChic5Config decoding height x width."""
    from coolchic.model import coolchic5  # the model imports this package's config only

    n_pix = height * width
    shapes = coolchic5.grid_shapes(config, height, width)
    lv = coolchic5.levels(config)
    order = coolchic5.entropy_order(config)
    d = config.arm_context + config.ifce_features
    n_lat = sum(h * w for h, w in shapes)
    arm = n_lat * (config.arm_layers * d * d + 2 * d + 2 * d) / n_pix  # layers, output, stabiliser
    f = config.ifce_features
    ifce = near = 0.0
    if f and config.ifce_grids:
        for e in range(config.ifce_grids):
            h, w = shapes[order[e + 1]]
            ifce += h * w * (len(order) - 1 - e) * f
            near += f * shapes[order[e]][0] * shapes[order[e]][1]
        levels = pyramid((height, width), max(lv) + 1)
        for level in range(max(lv) - 1, lv[order[1]] - 1, -1):  # the cascade of coarser grids
            if levels[level] != levels[level + 1]:
                near += sum(v > level for v in lv) * levels[level][0] * levels[level][1]
    up = 0.0
    t, p = config.upsampling_taps, config.preconcat_taps
    for level in range(config.n_grids - 2, -1, -1):
        c = config.n_grids - 1 - level
        h, w = shapes[level + 1]
        up += c * t * h * (w + t) + c * t * (h + t) * 2 * w  # the two passes on padded inputs
        up += 2 * p * shapes[level][0] * shapes[level][1]
    c = config.out_channels
    dims = (config.n_grids, *config.synth_hidden, c)
    syn = sum(a * b for a, b in zip(dims[:-1], dims[1:])) + config.synth_convs * 9 * c * c
    syn += config.n_grids * c + c * c  # stabiliser, output transform
    m = {"arm": arm, "ifce": ifce / n_pix, "upsampling": up / n_pix, "synthesis": syn, "nearest": near / n_pix}
    m["total"] = sum(m.values())
    return m


def macs_per_pixel(config: ModelConfig, height: int = 512, width: int = 768, convention: str | None = None) -> dict:
    """{"arm", "upsampling", "synthesis", "total", ...} MACs per pixel for an image of this size,
    in `convention` (default: the config's own, conventions(config)[0])."""
    convention = convention or conventions(config)[0]
    if convention not in conventions(config):
        raise ValueError(f"unknown convention {convention!r} for {type(config).__name__}: {conventions(config)}")
    if convention == "coolchic5":
        return coolchic5_macs(config, height, width)
    full = convention == "full"
    n_pix = height * width
    shapes = grid_shapes(height, width, config.n_grids)
    latents_per_pixel = sum(h * w for h, w in shapes) / n_pix

    arm = _mlp((len(config.context), *config.arm_hidden, 2), full=full) * latents_per_pixel

    if config.upsampling == "bilinear":
        if not full:
            up = 8.0 * (config.n_grids - 1)
        else:  # as implemented: 2 taps per output (3 FLOPs) up to factor 4, dense matrices above
            up = 0.0
            for i, (h, w) in enumerate(shapes[1:], start=1):
                s = 2**i
                per_h, per_w = (3.0, 3.0) if s <= MAX_PHASE_FACTOR else (2.0 * h, 2.0 * w)
                up += (per_h * s * h * w + per_w * s * h * s * w) / 2 / n_pix
    else:
        half = config.upsampling_taps // 2
        up = 0.0
        for level in range(config.n_grids - 2, -1, -1):
            ch = config.n_grids - 1 - level  # channels upsampled into this level
            h, w = shapes[level + 1]
            per_out = half if not full else (2 * half) / 2
            up += ch * per_out * (2 * h * w + 4 * h * w) / n_pix

    c = config.out_channels
    syn = _mlp((config.n_grids, *config.synth_hidden, c), full=full, activation=config.synth_activation)
    if full:
        # convs as implemented: one conv per input channel, summed with the bias (c * c adds),
        # plus the residual add, the activations between convs; then the final clip
        acts = ACTIVATION_OPS[config.synth_activation] * c * max(config.synth_convs - 1, 0) * config.conv_activation
        syn += (config.synth_convs * (2 * 9 * c * c + c * c + c) + acts) / 2 + c
    else:
        syn += config.synth_convs * 9 * c * c
    return {"arm": arm, "upsampling": up, "synthesis": syn, "total": arm + up + syn}


def video_macs_per_pixel(
    config, frames: int = 30, height: int = 1080, width: int = 1920, convention: str = "c3"
) -> dict:
    """MACs per decoded pixel of a VideoConfig.

    c3: C3's video convention (its utils/macs.py): the ARM cost of grid i weighted by 8^-i and
        truncated to an integer per grid, 16 MACs per pixel per upsampled grid (trilinear), the
        synthesis MLP, and 27 * C * C per 3D residual conv (9 * C * C per frame-wise 2D conv).
        C3's UVG configuration (6 grids, 3x9x9 causal context = 121 inputs, ARM 16-16,
        synthesis 32-32, two 3D convs) gives 2540 + 80 + 1798 = 4418.
    exact: the same multiplications with the ARM weighted by the true latent counts of a
        frames x height x width patch (ceil halving).
    """
    if convention not in ("c3", "exact"):
        raise ValueError(f"unknown convention {convention!r}")
    per_latent = _mlp((config.n_context, *config.arm_hidden, 2), full=False)
    if convention == "c3":
        arm = float(sum(int(per_latent * 8.0**-i) for i in range(config.n_grids)))
    else:
        n = sum(t * h * w for t, h, w in pyramid((frames, height, width), config.n_grids))
        arm = per_latent * n / (frames * height * width)
    up = 16.0 * (config.n_grids - 1)
    c = config.out_channels
    syn = _mlp((config.n_grids, *config.synth_hidden, c), full=False)
    syn += config.synth_convs * (27 if config.conv3d else 9) * c * c
    return {"arm": arm, "upsampling": up, "synthesis": syn, "total": arm + up + syn}


TITLES = {"c3": "C3 convention", "full": "full (FLOPs/2)", "exact": "exact latent counts", "coolchic5": "Cool-chic 5"}


def all_conventions(config: ModelConfig, height: int, width: int, frames: int | None = None) -> dict:
    """{convention: per-module MACs/pixel} for every convention of the config."""
    if config.is_video:
        return {k: video_macs_per_pixel(config, frames or 30, height, width, k) for k in conventions(config)}
    return {k: macs_per_pixel(config, height, width, k) for k in conventions(config)}


def format_table(config: ModelConfig, height: int, width: int, frames: int | None = None) -> str:
    counts = all_conventions(config, height, width, frames)
    digits = 2 if isinstance(config, CoolChic5Config) else 0
    rows = [("module", *(TITLES[k] for k in counts))]
    for k in next(iter(counts.values())):
        rows.append((k, *(f"{m[k]:.{digits}f}" for m in counts.values())))
    n = len(rows[0])
    wcol = [max(len(r[i]) for r in rows) for i in range(n)]
    return "\n".join("  ".join(r[i].ljust(wcol[i]) if i == 0 else r[i].rjust(wcol[i]) for i in range(n)) for r in rows)
