"""Recipes: a fit is a sequence of stages, each data plus schedule functions.

The fitting loop (coolchic.fitting.loop) knows nothing about Cool-chic or C3: a stage says how many steps
it runs, how latents are quantized (a function of the stage progress), the learning rate (a
function of the stage progress), the optimizer (coolchic.fitting.optimizers), and whether to keep the best parameters
or reduce the learning rate on plateaus. Cool-chic's and C3's recipes are two values of this type.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

import coolchic.fitting.quantizers as quantizers
from coolchic.fitting.optimizers import Adam
from coolchic.plugins import Registry


def linear_anneal(start: float, end: float, progress):
    """start + (end - start) * progress, progress clipped to [0, 1] (C3: optax.linear_schedule)."""
    return start + (end - start) * jnp.clip(progress, 0.0, 1.0)


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
    optimizer: Any = Adam()  # an optimizer value: .transform() -> optax direction
    keep_best: bool = False  # keep the parameters with the lowest loss seen in this stage
    # > 0 (with keep_best): "lowest loss" is the hard-rounded loss, measured every so many steps
    # and at the stage's last step (Cool-chic 5's validations) instead of the training loss
    validate_every: int = 0
    plateau_factor: float = 1.0  # < 1: multiply lr by this after `plateau_patience` steps w/o gain
    plateau_patience: int = 0
    reset_on_plateau: bool = False  # on a plateau also go back to the best parameters and Adam state
    carry_opt_state: bool = False  # start from the previous stage's Adam state instead of a fresh one


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Stages, and the candidates a fit of one seed starts with: `candidates` seeds, pruned by
    `prune` rounds of (after so many steps, keep so many), the best one returned (Cool-chic 5's
    warm-up). A caller that asks for candidates or pruning itself overrides both. `videos`: whether
    videos may be fitted with it (not an image-only schedule). `rdoq`: code the fit's weights
    with RD-optimised rounding (coolchic.coding.rdoq), part of Cool-chic 5's encoder."""

    name: str
    stages: tuple[Stage, ...]
    candidates: int = 1
    prune: tuple[tuple[int, int], ...] = ()
    videos: bool = True
    rdoq: bool = False

    @property
    def steps(self) -> int:
        """Steps of one candidate that runs to the end."""
        return sum(s.steps for s in self.stages)

    @property
    def total_steps(self) -> int:
        """Steps of all candidates together (Cool-chic 5's iteration count)."""
        total, alive, done = 0, self.candidates, 0
        for after, keep in self.prune:
            total += alive * (after - done)
            alive, done = keep, after
        return total + alive * (self.steps - done)


def coolchic_recipe(steps: int) -> Recipe:
    """Cool-chic's plain recipe: uniform noise with cosine lr from 1e-2 for 90 % of the steps,
    then straight-through rounding at lr 1e-4 keeping the best parameters."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    s2 = max(1, steps // 10) if steps >= 2 else 0
    stages = [Stage("noise", steps - s2, quantizers.uniform_noise, cosine_lr(1e-2), Adam(1.0))]
    if s2:
        stages.append(Stage("ste", s2, quantizers.straight_through, constant_lr(1e-4), Adam(1.0), keep_best=True))
    return Recipe("coolchic", tuple(stages))


# Recipe factories by name: `coolchic` here, `coolchic5` from coolchic.fitting.coolchic5 (registered
# by the package), `c3` from the c3 package's entry point
# (pyproject.toml), and whatever a user registers (`RECIPES["mine"] = factory`).
RECIPES = Registry("coolchic.recipes", "recipe")
RECIPES["coolchic"] = coolchic_recipe

DEFAULT_RECIPE = "c3"


def get_recipe(name: str, steps: int, lmbda: float | None = None) -> Recipe:
    """The recipe `name` over `steps` steps; lmbda goes to factories that take it (Cool-chic 5's
    warm-up noise depends on it)."""
    factory = RECIPES.lookup(name)
    if lmbda is not None and "lmbda" in inspect.signature(factory).parameters:
        return factory(steps, lmbda=lmbda)
    return factory(steps)
