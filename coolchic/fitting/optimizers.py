"""Optimizers of a recipe stage: hashable values whose `transform()` is an optax
GradientTransformation giving the update direction (the stage's learning rate scales it by -lr).

All stages of a recipe that carry an optimizer state over must use optimizers with the same state
structure (e.g. Adam with different clip norms, or Soap with different betas).
"""

from __future__ import annotations

import dataclasses

import jax
import optax

from coolchic.fitting.soap import scale_by_soap


@dataclasses.dataclass(frozen=True)
class Adam:
    """Adam on every parameter, the whole gradient first clipped to a global norm (C3, Cool-chic 4)."""

    clip_norm: float = 1.0

    def transform(self) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), optax.scale_by_adam())


def _group(path) -> str:
    return "latents" if getattr(path[0], "key", None) == "latents" else "networks"


@dataclasses.dataclass(frozen=True)
class Soap:
    """Cool-chic 5's optimizer: SOAP with decoupled weight decay on the networks, their gradient
    clipped to a global norm of its own; Adam-like SOAP without preconditioner on the latents
    (training/train.py: max_precond_dim 256 for the networks and 0 for the latents, no 1-D
    preconditioning, weight decay 0.01 on the networks only, clipping of the networks only)."""

    clip_norm: float = 0.1
    betas_networks: tuple[float, float] = (0.95, 0.95)
    betas_latents: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    precondition_frequency: int = 10
    max_precond_dim: int = 256

    def transform(self) -> optax.GradientTransformation:
        networks = optax.chain(
            optax.clip_by_global_norm(self.clip_norm),
            scale_by_soap(
                *self.betas_networks,
                precondition_frequency=self.precondition_frequency,
                max_precond_dim=self.max_precond_dim,
            ),
            optax.add_decayed_weights(self.weight_decay),
        )
        latents = scale_by_soap(*self.betas_latents, max_precond_dim=0)
        return optax.multi_transform({"networks": networks, "latents": latents}, _labels)


def _labels(params):
    """ "latents" for the latent grids, "networks" for every other leaf (ARM, upsampling, synthesis)."""
    return jax.tree_util.tree_map_with_path(lambda path, _: _group(path), params)
