"""From the parameters a fit optimises to the parameters the model and the stream use.

The fit-only fields of ModelConfig act here and nowhere else:
- latent_step, latent_gain: the fit stores grid i in units of latent_step / latent_gain^i, so
  under Adam (whose steps do not depend on the gradient's scale) the quantized latents move
  1 / latent_step times faster, and the coarse grids latent_gain^i times faster again (C3 and
  Cool-chic: step 0.4, gain 2).
- parameterisation "c3": the ARM and the synthesis see latents times latent_step (C3 feeds them
  the quantized value times q_step), the ARM's loc is in those units too and its log-scale is
  -0.5 * (raw + 8) (C3's `shift_log_scale = 8` with `clip_like_cool_chic`). All are affine in the
  first and last layers' parameters, so they fold into plain weights: the stream, the fixed-point
  ARM and the weight coding never see them.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from coolchic.config import ModelConfig

LOG_SCALE_SHIFT = 8.0  # C3 configs/kodak.py: entropy.shift_log_scale


def fold_arm(arm: dict, config: ModelConfig) -> dict:
    """The plain ARM (integer latents in, mu and log-scale in integer units out) equal to a
    "c3"-parameterised one."""
    q = config.latent_step
    layers = [dict(layer) for layer in arm["layers"]]
    layers[0]["w"] = layers[0]["w"] * q
    w, b = layers[-1]["w"], layers[-1]["b"]
    layers[-1]["w"] = jnp.stack([w[0] / q, -0.5 * w[1]])
    layers[-1]["b"] = jnp.stack([b[0] / q, -0.5 * (b[1] + LOG_SCALE_SHIFT) - np.log(q)])
    return {**arm, "layers": layers}


def fold_synthesis(synthesis: dict, config: ModelConfig) -> dict:
    """The plain synthesis equal to one that sees latents times latent_step (upsampling is linear)."""
    layers = [dict(layer) for layer in synthesis["layers"]]
    layers[0]["w"] = layers[0]["w"] * config.latent_step
    return {**synthesis, "layers": layers}


def to_model(params: dict, config: ModelConfig) -> dict:
    """Fit parameters -> model parameters: latents in quantization units, networks plain."""
    out = {**params, "latents": config.scale_latents(params["latents"])}
    if config.parameterisation == "c3":
        out["arm"] = fold_arm(params["arm"], config)
        out["synthesis"] = fold_synthesis(params["synthesis"], config)
    return out
