"""Rate of integer (or noisy) latents under a Laplace distribution, in bits.

P(y) = F(y + 1/2) - F(y - 1/2) with F the Laplace CDF, floored at 2^-16 so that no latent costs
more than 16 bits and gradients stay finite. Scales are parameterised by their log, clipped to
[LOG_SCALE_MIN, LOG_SCALE_MAX] (b in [0.0067, 148]), the range the fixed-point coder supports
(C3 clips b to [1e-3, 150] in units of its 0.4 latent step, i.e. [0.0025, 375] here: a
difference only for latents that cost almost nothing or are nearly uniform).
"""

from __future__ import annotations

import jax.numpy as jnp

LOG_SCALE_MIN = -5.0
LOG_SCALE_MAX = 5.0
PROB_FLOOR = 2.0**-16


def laplace_cdf(x, mu, inv_b):
    z = (x - mu) * inv_b
    return 0.5 + 0.5 * jnp.sign(z) * (1.0 - jnp.exp(-jnp.abs(z)))


def laplace_bits(y, mu, log_scale):
    """Bits of each latent y under Laplace(mu, exp(log_scale)) integrated over [y-1/2, y+1/2]."""
    inv_b = jnp.exp(-jnp.clip(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX))
    p = laplace_cdf(y + 0.5, mu, inv_b) - laplace_cdf(y - 0.5, mu, inv_b)
    return -jnp.log2(jnp.maximum(p, PROB_FLOOR))
