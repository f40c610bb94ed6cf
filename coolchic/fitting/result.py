"""What a fit returns (FitResult), and the evaluation of fitted parameters with rounded latents."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.config import ModelConfig
from coolchic.fitting.quantizers import hard_round
from coolchic.fitting.step import cached
from coolchic.model import colour, model_for
from coolchic.model.fit_space import to_model


@dataclasses.dataclass
class FitResult:
    params: dict  # the chosen candidate's parameters
    config: ModelConfig
    lmbda: float
    steps: int
    seconds: float
    history: list  # (global_step, loss, mse, bpp) of the best candidate at chunk ends
    candidates: list = dataclasses.field(default_factory=list)  # per seed: {"seed", "rd_cost", ...}
    chosen: int = 0
    rdoq: bool = False  # the recipe asks for RD-optimised rounding of the weights when coding


def evaluate(params: dict, config: ModelConfig, image: np.ndarray, with_reconstruction: bool = True) -> dict:
    """Reconstruction with hard-rounded latents, its MSE/PSNR and latent bits (float ARM)."""
    image = jnp.asarray(image, jnp.float32)
    rec, bits = _eval_fn(config, image.shape[1:])(params)
    mse = float(colour.mse(rec, image, config.colour))
    out = {
        "mse": mse,
        "psnr": float(-10 * np.log10(max(mse, 1e-20))),
        "latent_bits": float(bits),
        "bpp_latents": float(bits) / image[0].size,
    }
    if with_reconstruction:
        out["reconstruction"] = np.asarray(rec)
    return out


_EVAL_CACHE: dict = {}


def _eval_fn(config: ModelConfig, dims: tuple):
    def make():
        model = model_for(config)

        def run(params):
            mp = to_model(params, config)
            q = hard_round(mp["latents"])
            return model.decode(mp, q, config, *dims), model.rate_bits(mp, q, config)

        return jax.jit(run)

    return cached(_EVAL_CACHE, (config, tuple(dims)), make)
