"""The C3 recipe (Kim et al., CVPR 2024) on top of coolchic's model and fitting loop.

Importing this package registers the recipe as `coolchic.fitting.recipes.RECIPES["c3"]`.
"""

from coolchic.fitting.recipes import RECIPES

from .kumaraswamy import (
    kumaraswamy_b,
    kumaraswamy_cdf,
    kumaraswamy_inv_cdf,
    kumaraswamy_mean,
    kumaraswamy_noise,
    kumaraswamy_noise_like,
)
from .recipe import SoftRoundNoise, SoftRoundSTE, c3_recipe, linear_anneal, soft_round_noise, soft_round_ste
from .soft_round import soft_round, soft_round_conditional_mean, soft_round_inverse

RECIPES["c3"] = c3_recipe

__all__ = [
    "SoftRoundNoise",
    "SoftRoundSTE",
    "c3_recipe",
    "kumaraswamy_b",
    "kumaraswamy_cdf",
    "kumaraswamy_inv_cdf",
    "kumaraswamy_mean",
    "kumaraswamy_noise",
    "kumaraswamy_noise_like",
    "linear_anneal",
    "soft_round",
    "soft_round_conditional_mean",
    "soft_round_inverse",
    "soft_round_noise",
    "soft_round_ste",
]

from .adaptive import DEFAULT_ARCHITECTURES, AdaptiveResult, fit_adaptive  # noqa: E402,F401
