"""Adaptive per-image search (C3 "adaptive"): several candidates, keep the best RD cost.

Candidates are (architecture, seed) pairs. Those that share an architecture have identical
parameter shapes and are the seeds of one coolchic.fitting.candidates.fit (under `jax.vmap` in one
compiled loop on an accelerator, see batch_mode); different architectures cannot be batched, so
they form separate groups, fitted one group after the other. The winner is the candidate with the
lowest MSE + lambda * latent bpp.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from coolchic.config import ModelConfig, causal_context
from coolchic.fitting.candidates import fit
from coolchic.fitting.recipes import Recipe
from coolchic.fitting.result import FitResult

# C3's adaptive Kodak search varies the ARM context and the synthesis width; a small default set.
DEFAULT_ARCHITECTURES = (
    ModelConfig(),
    ModelConfig(context=causal_context(5)),
    ModelConfig(synth_hidden=(24, 24)),
)


@dataclasses.dataclass
class AdaptiveResult:
    best: FitResult
    candidates: list  # {"architecture": index, "seed", "rd_cost", "psnr", "bpp_latents"}


def fit_adaptive(
    image: np.ndarray,
    recipe: Recipe,
    lmbda: float,
    architectures=DEFAULT_ARCHITECTURES,
    seeds=(0,),
    progress: bool = False,
    **fit_kwargs,
) -> AdaptiveResult:
    """Fit every (architecture, seed) candidate, the seeds of one architecture in one fit."""
    channels = image.shape[0]
    results, rows = [], []
    for ai, config in enumerate(architectures):
        r = fit(
            image, config.with_channels(channels), recipe, lmbda, seeds=list(seeds), progress=progress, **fit_kwargs
        )
        results.append(r)
        rows += [{"architecture": ai, **c} for c in r.candidates]
    best = int(np.argmin([r.candidates[r.chosen]["rd_cost"] for r in results]))
    return AdaptiveResult(results[best], rows)


def adaptive_search(
    image: np.ndarray, config: ModelConfig, recipe: Recipe, lmbda: float, *, seeds, progress: bool, prune=None
) -> FitResult:
    """The `c3-adaptive` search of coolchic's registry (`coolchic encode --adaptive`): `config`
    first, then each of DEFAULT_ARCHITECTURES that differs from it; the best fit of all."""
    channels = image.shape[0]
    archs = (config, *[a for a in DEFAULT_ARCHITECTURES if a.with_channels(channels) != config])
    return fit_adaptive(image, recipe, lmbda, architectures=archs, seeds=seeds, progress=progress, prune=prune).best
