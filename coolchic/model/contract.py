"""The one contract every model family implements (image, video, and the next ones).

A model is a value, like optax's GradientTransformation: a NamedTuple of pure functions over
parameter pytrees. The fitting loop, the weight coder and the CLI only ever call these, so a
new family (e.g. Cool-chic 5's decoder) is one new module that builds one `Model`.

Arrays are channels-first: a target is (C, *dims) with dims (H, W) for images and (T, H, W) for
videos; latents are a list of grids, finest first, shaped `grid_shapes(config, *dims)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Model(NamedTuple):
    """What the library needs from a model family.

    name: "image", "video", ...; n_dims: spatial(-temporal) dimensions of its targets.
    init_params(key, config, *dims) -> params: {"latents", "arm", "upsampling", "synthesis"}.
    grid_shapes(config, *dims) -> [shape of each latent grid], finest first.
    rate_bits(params, latents, config) -> total bits of (quantized or noisy) latents under the ARM.
    rd_terms(params, latents, config, target) -> (mse, bits) of a target (C, *dims).
    decode(params, latents, config, *dims) -> reconstruction (C, *dims) clipped to [0, 1].
    """

    name: str
    n_dims: int
    init_params: Callable[..., Any]
    grid_shapes: Callable[..., list]
    rate_bits: Callable[..., Any]
    rd_terms: Callable[..., Any]
    decode: Callable[..., Any]


def network_params(params: dict) -> dict:
    """The parameters that are networks (everything but the latents)."""
    return {k: v for k, v in params.items() if k != "latents"}
