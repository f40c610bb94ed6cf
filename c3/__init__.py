"""The C3 recipe (Kim et al., CVPR 2024) on top of coolchic's model and fitting loop.

The recipe reaches coolchic through the `coolchic.recipes` entry point (pyproject.toml) as
`coolchic.fitting.recipes.RECIPES["c3"]`, and the adaptive search through `coolchic.searches`;
coolchic never imports this package itself.
"""

from coolchic.fitting.soft_round import soft_round, soft_round_conditional_mean, soft_round_inverse

from .adaptive import DEFAULT_ARCHITECTURES, AdaptiveResult, adaptive_search, fit_adaptive
from .kumaraswamy import (
    kumaraswamy_b,
    kumaraswamy_cdf,
    kumaraswamy_inv_cdf,
    kumaraswamy_mean,
    kumaraswamy_noise,
    kumaraswamy_noise_like,
)
from .recipe import SoftRoundNoise, SoftRoundSTE, c3_recipe, linear_anneal, soft_round_noise, soft_round_ste

__all__ = [
    "DEFAULT_ARCHITECTURES",
    "AdaptiveResult",
    "adaptive_search",
    "fit_adaptive",
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
