"""Weight initialisers C3 uses (haiku's), for the "c3" parameterisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# std of a unit normal truncated to +-2: haiku's VarianceScaling divides by it
_TRUNCATED_STD = 0.87962566103423978


def truncated_normal(key, shape, stddev) -> jnp.ndarray:
    """stddev * N(0, 1) truncated to +-2 (haiku's TruncatedNormal)."""
    return jax.random.truncated_normal(key, -2.0, 2.0, shape) * stddev


def fan_in_normal(key, shape) -> jnp.ndarray:
    """Haiku's default weight init for (out, in) weights: truncated normal of variance 1 / in."""
    return truncated_normal(key, shape, 1.0 / np.sqrt(shape[1]) / _TRUNCATED_STD)
