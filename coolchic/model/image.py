"""The overfitted image model: latent grids, ARM, upsampling, synthesis, as one parameter pytree.

params = {"latents": [grid_0 (finest) ... grid_{n-1}], "arm": ..., "upsampling": ...,
          "synthesis": ...}. Images are channels-first (C, H, W) floats in [0, 1].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import coolchic.model.colour as colour
from coolchic.config import ModelConfig
from coolchic.model.arm import init_arm, latent_bits
from coolchic.model.contract import Model, network_params
from coolchic.model.latents import grid_shapes, init_latents
from coolchic.model.synthesis import init_synthesis, squared_error, synthesize
from coolchic.model.upsampling import init_upsampling, upsample


def init_params(key, config: ModelConfig, height: int, width: int) -> dict:
    k_arm, k_syn = jax.random.split(key)
    return {
        "latents": init_latents((height, width), config.n_grids),
        "arm": init_arm(k_arm, config),
        "upsampling": init_upsampling(config),
        "synthesis": init_synthesis(k_syn, config),
    }


def rate_bits(params: dict, latents: list, config: ModelConfig) -> jnp.ndarray:
    """Total bits of the given (quantized or noisy) latents under the ARM."""
    return latent_bits(params["arm"], latents, config)


def features(params: dict, latents: list, config: ModelConfig, height: int, width: int):
    return upsample(params["upsampling"], latents, config, height, width)


def image_functions(features, rate_bits):
    """(decode_image, rd_terms) of an image model from its features (the synthesis input) and
    its latent rate: the synthesis, its output format (config.colour), its clipping and the MSE
    are shared by the image families."""

    def decode_image(params: dict, latents: list, config: ModelConfig, height: int, width: int):
        """Reconstruction (C, H, W) clipped to [0, 1] from (rounded) latents."""
        f = features(params, latents, config, height, width)
        return jnp.clip(colour.subsample(synthesize(params["synthesis"], f, config), config.colour), 0.0, 1.0)

    def rd_terms(params: dict, latents: list, config: ModelConfig, image: jnp.ndarray):
        """(mse, bits) of an image (C, H, W) given latents already passed through a quantizer."""
        c, h, w = image.shape
        f = features(params, latents, config, h, w)
        se = squared_error(params["synthesis"], f, image, config)
        return se / colour.n_samples(image.shape, config.colour), rate_bits(params, latents, config)

    return decode_image, rd_terms


decode_image, rd_terms = image_functions(features, rate_bits)


IMAGE_MODEL = Model(
    name="image",
    n_dims=2,
    init_params=init_params,
    grid_shapes=lambda config, height, width: grid_shapes(height, width, config.n_grids),
    rate_bits=rate_bits,
    rd_terms=rd_terms,
    decode=decode_image,
)

__all__ = ["IMAGE_MODEL", "decode_image", "features", "init_params", "network_params", "rate_bits", "rd_terms"]
