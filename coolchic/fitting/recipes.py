"""Recipes: a fit is a sequence of stages, each data plus schedule functions.

The fitting loop (coolchic.fitting.loop) knows nothing about Cool-chic or C3: a stage says how many steps
it runs, how latents are quantized (a function of the stage progress), the learning rate (a
function of the stage progress), the gradient clipping, and whether to keep the best parameters
or reduce the learning rate on plateaus. Cool-chic's and C3's recipes are two values of this type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp

import coolchic.fitting.quantizers as quantizers
from coolchic.plugins import Registry


@dataclasses.dataclass(frozen=True)
class cosine_lr:
    """Cosine decay from `peak` to `floor` over the stage. Hashable, so compiled steps are reused."""

    peak: float
    floor: float = 0.0

    def __call__(self, progress):
        p = jnp.clip(progress, 0.0, 1.0)
        return self.floor + 0.5 * (self.peak - self.floor) * (1.0 + jnp.cos(jnp.pi * p))


@dataclasses.dataclass(frozen=True)
class constant_lr:
    value: float

    def __call__(self, progress):
        return jnp.asarray(self.value, jnp.float32)


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    quantize: Callable  # (latents, key, progress) -> latents
    learning_rate: Callable  # progress -> lr
    clip_norm: float = 1.0
    keep_best: bool = False  # keep the parameters with the lowest loss seen in this stage
    plateau_factor: float = 1.0  # < 1: multiply lr by this after `plateau_patience` steps w/o gain
    plateau_patience: int = 0
    reset_on_plateau: bool = False  # on a plateau also go back to the best parameters and Adam state
    carry_opt_state: bool = False  # start from the previous stage's Adam state instead of a fresh one


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    stages: tuple[Stage, ...]

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.stages)


def coolchic_recipe(steps: int) -> Recipe:
    """Cool-chic's plain recipe: uniform noise with cosine lr from 1e-2 for 90 % of the steps,
    then straight-through rounding at lr 1e-4 keeping the best parameters."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    s2 = max(1, steps // 10) if steps >= 2 else 0
    stages = [Stage("noise", steps - s2, quantizers.uniform_noise, cosine_lr(1e-2), clip_norm=1.0)]
    if s2:
        stages.append(Stage("ste", s2, quantizers.straight_through, constant_lr(1e-4), clip_norm=1.0, keep_best=True))
    return Recipe("coolchic", tuple(stages))


# Recipe factories by name: `coolchic` here, `c3` from the c3 package's entry point
# (pyproject.toml), and whatever a user registers (`RECIPES["mine"] = factory`).
RECIPES = Registry("coolchic.recipes", "recipe")
RECIPES["coolchic"] = coolchic_recipe

DEFAULT_RECIPE = "c3"


def get_recipe(name: str, steps: int) -> Recipe:
    """The recipe `name` over `steps` steps."""
    return RECIPES.lookup(name)(steps)
