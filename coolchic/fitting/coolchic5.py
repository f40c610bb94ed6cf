"""Cool-chic 5's image recipe (Orange-OpenSource/Cool-Chic 5.0.1, training/presets.py
`PresetIntra`) as a Recipe: a warm-up of 5 candidates pruned to 2 then 1, a main phase and a final
phase, every phase with a fresh SOAP optimizer (coolchic.fitting.optimizers.Soap).

Budget: `steps` is Cool-chic's `--n_itr`, the iterations of all candidates together. With w
warm-up iterations per candidate and phase (50 / 100 / 200 / 400 for n_itr below 4k / 9k / 12k /
above), the 5 candidates run w, the 2 best w more, and the best one n_itr - 7 w - 500 main and 500
final iterations, which sum to n_itr.

- Warm-up: soft-round (T = 0.35) of soft-round plus Gaussian noise of std (0.747 - 0.432 log10
  lambda) / 10, constant lr 1e-2, latent betas (0.725, 0.97), preconditioner refreshed every step.
- Main: T 0.35 -> 0.08 and noise std 0.22 -> 0.15 linearly, lr cosine 1e-2 -> 1e-5; the
  parameters of the lowest hard-rounded loss, measured every 100 steps and at the end, go on.
- Final: hard rounding with no gradient to the latents (Cool-chic's "hardround": only the networks
  move), lr cosine 1e-4 -> 1e-5, the parameters of the lowest loss kept.

Differences, on purpose: schedules are continuous in the step (Cool-chic updates lr, T and the
noise every 100 iterations, at its validations); the main phase does not reload its best state
after 5000 iterations without progress (Cool-chic's patience, which a 10k budget rarely meets);
warm-up candidates are ranked by their hard-rounded loss at the phase end, where Cool-chic ranks
the best of their validations.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from coolchic.fitting.optimizers import Soap
from coolchic.fitting.recipes import Recipe, Stage, constant_lr, cosine_lr, linear_anneal
from coolchic.fitting.soft_round import soft_round

MIN_STEPS = 2000  # Cool-chic 5 refuses fewer iterations for an image
FINAL_STEPS = 500
WARMUP_CANDIDATES = (5, 2)  # candidates in the two warm-up phases; the best one goes on
LR_FLOOR = 1e-5  # CosineAnnealingLR eta_min
VALIDATE_EVERY = 100  # its freq_valid: the main phase keeps its best hard-rounded state


def warmup_steps(n_itr: int) -> int:
    """Iterations of each candidate in each warm-up phase."""
    for limit, w in ((4000, 50), (9000, 100), (12000, 200)):
        if n_itr < limit:
            return w
    return 400


def warmup_noise(lmbda: float) -> float:
    """Std of the warm-up's Gaussian noise (larger at low rates)."""
    return (-0.432 * math.log10(lmbda) + 0.747) / 10.0


@dataclasses.dataclass(frozen=True)
class SoftRoundGaussian:
    """Cool-chic 5's "softround" quantizer with "gaussian" noise: s_T(s_T(y) + sigma n), n ~ N(0, 1),
    T and sigma linear in the stage progress; gradients flow through both soft-roundings."""

    t_start: float
    t_end: float
    sigma_start: float
    sigma_end: float

    def __call__(self, latents: list, key, progress) -> list:
        t = linear_anneal(self.t_start, self.t_end, progress)
        sigma = linear_anneal(self.sigma_start, self.sigma_end, progress)
        keys = jax.random.split(key, len(latents))
        return [soft_round(soft_round(g, t) + sigma * jax.random.normal(k, g.shape), t) for g, k in zip(latents, keys)]


@dataclasses.dataclass(frozen=True)
class HardRound:
    """round(y) forward, no gradient to the latents (Cool-chic 5's "hardround")."""

    def __call__(self, latents: list, key, progress) -> list:
        return [jax.lax.stop_gradient(jnp.round(g)) for g in latents]


def coolchic5_recipe(steps: int, lmbda: float = 1e-3) -> Recipe:
    """Cool-chic 5's image schedule over `steps` iterations of all candidates together."""
    if steps < MIN_STEPS:
        raise ValueError(f"the coolchic5 recipe needs at least {MIN_STEPS} steps (Cool-chic 5's minimum), got {steps}")
    if not lmbda > 0:
        raise ValueError(f"lambda must be > 0, got {lmbda}")
    w = warmup_steps(steps)
    main = steps - FINAL_STEPS - w * sum(WARMUP_CANDIDATES)
    sigma = warmup_noise(lmbda)
    warm = SoftRoundGaussian(0.35, 0.35, sigma, sigma)
    warm_opt = Soap(betas_latents=(0.725, 0.97), precondition_frequency=1)
    stages = (
        Stage("warmup-5", w, warm, constant_lr(1e-2), warm_opt),
        Stage("warmup-2", w, warm, constant_lr(1e-2), warm_opt),
        Stage(
            "main",
            main,
            SoftRoundGaussian(0.35, 0.08, 0.22, 0.15),
            cosine_lr(1e-2, LR_FLOOR),
            Soap(),
            keep_best=True,
            validate_every=VALIDATE_EVERY,
        ),
        Stage("final", FINAL_STEPS, HardRound(), cosine_lr(1e-4, LR_FLOOR), Soap(), keep_best=True),
    )
    n0, n1 = WARMUP_CANDIDATES
    # videos=False: Cool-chic 5's inter frames have a schedule of their own (PresetInter).
    return Recipe("coolchic5", stages, candidates=n0, prune=((w, n1), (2 * w, 1)), videos=False, rdoq=True)
