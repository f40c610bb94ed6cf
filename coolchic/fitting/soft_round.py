"""Soft rounding (Agustsson & Theis 2020, "Universally Quantized Neural Compression", Sec. 4.1).

A smooth, invertible stand-in for `round` used by C3 and Cool-chic 5 to anneal from noise-based
training toward hard quantization. Same definitions as C3's reference (`model/latents.py` of
google-deepmind/c3_neural_compression; Cool-chic 5's `softround` is s_t too): the temperature `t`
is the reciprocal of the paper's alpha; t -> 0 gives rounding, t -> inf gives the identity.

Numerical safety (not in C3's code): `t` is clamped to [1e-20, 1e20], so t = 0 (which would give
0/0 at half-integers) and t = inf (C3's `None`, which gives 0/0 everywhere) are both finite, and
the inverse clips its arctanh argument so that small temperatures give no infinities.
"""

from __future__ import annotations

import jax.numpy as jnp

_T_MIN, _T_MAX = 1e-20, 1e20


def _temperature(t):
    return jnp.clip(jnp.asarray(t, jnp.float32), _T_MIN, _T_MAX)


def soft_round(x, t):
    """s_t(x) = floor(x) + 1/2 + tanh((r - 1/2)/t) / (2 tanh(1/(2t))), r = x - floor(x).

    Continuous and strictly increasing; integers and half-integers are fixed points.
    t -> 0: round(x); t -> inf: x.
    """
    t = _temperature(t)
    m = jnp.floor(x) + 0.5
    return m + jnp.tanh((x - m) / t) / (2.0 * jnp.tanh(0.5 / t))


def soft_round_inverse(y, t):
    """s_t^{-1}(y) = floor(y) + 1/2 + t * arctanh(2 tanh(1/(2t)) (y - floor(y) - 1/2)).

    The arctanh argument is clipped inside (-1, 1) and the offset to [-1/2, 1/2], so that for
    temperatures where tanh(1/(2t)) rounds to 1 (t < ~0.05 in float32) the result stays finite.
    """
    t = _temperature(t)
    m = jnp.floor(y) + 0.5
    u = jnp.clip((y - m) * (2.0 * jnp.tanh(0.5 / t)), -1.0 + 1e-7, 1.0 - 1e-7)
    return m + jnp.clip(t * jnp.arctanh(u), -0.5, 0.5)


def soft_round_conditional_mean(y, t):
    """E[X | s_t(X) + U = y], U ~ U(-1/2, 1/2), X uniform on its bin: s_t^{-1}(y - 1/2) + 1/2.

    Applied after the noise so the decoder-side value is the posterior mean of the latent (C3's
    `soft_round_conditional_mean`; Agustsson & Theis Sec. 4.1). t -> 0 gives round(y) (the noise
    is removed exactly), t -> inf gives the identity.
    """
    return soft_round_inverse(y - 0.5, t) + 0.5
