"""The C3 recipe (Kim et al., CVPR 2024) as a value of `coolchic.fitting.recipes.Recipe`.

Everything here follows the reference implementation, google-deepmind/c3_neural_compression:
`quantize()` in `model/latents.py` (quant types "soft_round" and "ste_soft_round"),
`fit_datum()` in `experiments/image.py` (the two stages and their schedules), and
`configs/kodak.py` (the values):

- Stage 1 ("soft_round", 100k steps at C3's full budget): y -> r_T(s_T(y) + n), s_T soft-round,
  n ~ Kumaraswamy(a, b(a)) - 1/2, r_T soft-round's conditional mean. T goes linearly 0.3 -> 0.1 and
  a linearly 2 -> 1 over the stage (optax.linear_schedule in C3). Adam, lr cosine-decayed from
  1e-2 to 0 over the stage, gradients clipped to global norm 0.1.
- Stage 2 ("ste_soft_round", <= 10k steps): round(y) forward, gradient of s_{1e-4} backward; no
  noise. Adam at lr 1e-4 continuing stage 1's Adam state, x0.8 after 20 steps without a lower
  loss (going back to the best parameters and Adam state, as C3 does), same clip 0.1, and the
  parameters with the lowest loss are returned.

Quantizers are frozen dataclasses, so stages hash and compare by value and the fitting loop's
compiled chunk functions (cached per (config, stage)) are reused across fits.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from coolchic.fitting.optimizers import Adam
from coolchic.fitting.recipes import Recipe, Stage, constant_lr, cosine_lr, linear_anneal
from coolchic.fitting.soft_round import soft_round, soft_round_conditional_mean

from .kumaraswamy import kumaraswamy_noise_like


def soft_round_noise(latents: list, key, temperature, kumaraswamy_a) -> list:
    """C3's "soft_round" proxy: r_T(s_T(y) + n), n ~ Kumaraswamy(a, b(a)) - 1/2 (mode 0)."""
    noise = kumaraswamy_noise_like(latents, key, kumaraswamy_a)
    return [soft_round_conditional_mean(soft_round(g, temperature) + n, temperature) for g, n in zip(latents, noise)]


def soft_round_ste(latents: list, temperature) -> list:
    """C3's "ste_soft_round": round(y) forward, d s_T(y)/dy backward."""
    out = []
    for g in latents:
        soft = soft_round(g, temperature)
        out.append(soft + jax.lax.stop_gradient(jnp.round(g) - soft))
    return out


@dataclasses.dataclass(frozen=True)
class SoftRoundNoise:
    """Stage-1 quantizer `(latents, key, progress) -> latents` with T and a annealed linearly over
    the stage progress (C3 configs/kodak.py: T 0.3 -> 0.1, a 2.0 -> 1.0).

    Both are functions of progress = step / steps, so at the last step T = 0.1 + 0.2 / steps and
    a = 1 + 1 / steps. For a that is exactly C3 (linear_schedule over `num_noise_steps`); C3's T
    schedule spans `num_noise_steps - 1` steps and reaches 0.1 at the last step, a difference of
    at most 0.2 / steps.
    """

    t_start: float = 0.3
    t_end: float = 0.1
    a_start: float = 2.0
    a_end: float = 1.0

    def temperature(self, progress):
        return linear_anneal(self.t_start, self.t_end, progress)

    def kumaraswamy_a(self, progress):
        return linear_anneal(self.a_start, self.a_end, progress)

    def __call__(self, latents: list, key, progress) -> list:
        return soft_round_noise(latents, key, self.temperature(progress), self.kumaraswamy_a(progress))


@dataclasses.dataclass(frozen=True)
class SoftRoundSTE:
    """Stage-2 quantizer: hard rounding forward, soft-round gradient (C3: T = 1e-4) backward.
    Deterministic: the key is unused, as C3 passes no RNG in this stage."""

    temperature: float = 1e-4

    def __call__(self, latents: list, key, progress) -> list:
        return soft_round_ste(latents, self.temperature)


def c3_recipe(steps: int, *, ste_fraction: float = 1 / 11, plateau_patience: int = 20) -> Recipe:
    """C3's two stages over `steps` in total; stage 2 gets `ste_fraction` of them (C3: 100k noise
    + 10k STE steps, so c3_recipe(110_000) reproduces C3's split exactly).

    plateau_patience: steps without a lower loss before the stage-2 lr is multiplied by 0.8
    (C3: `ste_num_steps_not_improved = 20`, independent of the budget).
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")
    s2 = max(1, round(steps * ste_fraction)) if steps >= 2 else 0
    stages = [Stage("soft_round", steps - s2, SoftRoundNoise(), cosine_lr(1e-2), Adam(0.1))]
    if s2:
        stages.append(
            Stage(
                "ste_soft_round",
                s2,
                SoftRoundSTE(1e-4),
                constant_lr(1e-4),
                Adam(0.1),
                keep_best=True,
                plateau_factor=0.8,
                plateau_patience=plateau_patience,
                reset_on_plateau=True,
                carry_opt_state=True,
            )
        )
    return Recipe("c3", tuple(stages))
