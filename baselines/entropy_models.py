"""Entropy models of the learned baselines (ports of CompressAI 1.2.8).

* :class:`EntropyBottleneck` - Balle et al.'s factorized (non-parametric) density
  with learned quantiles; Flax module with parameters.
* :class:`GaussianConditional` - discretized Gaussian with scale lower bound and
  CompressAI's scale table (for coding: :meth:`build_indexes`,
  :meth:`quantized_cdfs`).
* :class:`GaussianMixtureConditional` - the K-component discretized Gaussian
  mixture of Cheng et al. 2020.

All operate on NHWC tensors (channels last). Quantisation follows CompressAI:
``"noise"`` (training, additive U(-1/2, 1/2)), ``"dequantize"``
(``round(x - means) + means``) and ``"symbols"`` (integers ``round(x - means)``).

The quantized-CDF tables (:func:`pmf_to_quantized_cdf`, ``quantized_cdfs``)
reproduce CompressAI's ``update()`` so an entropy coder can later be driven with
the same ``(cdf, cdf_length, offset, index)`` convention as CompressAI's rANS.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .layers import lower_bound

__all__ = [
    "SCALES_MIN",
    "SCALES_MAX",
    "SCALES_LEVELS",
    "get_scale_table",
    "quantize",
    "pmf_to_quantized_cdf",
    "standardized_cumulative",
    "EntropyBottleneck",
    "GaussianConditional",
    "GaussianMixtureConditional",
]

SCALES_MIN = 0.11
SCALES_MAX = 256
SCALES_LEVELS = 64


def get_scale_table(min: float = SCALES_MIN, max: float = SCALES_MAX, levels: int = SCALES_LEVELS) -> np.ndarray:
    """CompressAI's ``get_scale_table``: ``exp(linspace(log min, log max, levels))`` (float32)."""
    return np.exp(np.linspace(math.log(min), math.log(max), levels)).astype(np.float32)


def quantize(x, mode: str, means=None, rng=None):
    """CompressAI ``EntropyModel.quantize``: ``noise`` | ``dequantize`` | ``symbols``."""
    if mode == "noise":
        if rng is None:
            raise ValueError("quantize(mode='noise') needs an rng key")
        return x + jax.random.uniform(rng, x.shape, x.dtype, -0.5, 0.5)
    if mode not in ("dequantize", "symbols"):
        raise ValueError(f"invalid quantization mode {mode!r}")
    out = x if means is None else x - means
    out = jnp.round(out)
    if mode == "symbols":
        return out.astype(jnp.int32)
    return out if means is None else out + means


def standardized_cumulative(x):
    """Standard normal CDF via ``erfc`` (accurate in the lower tail), as CompressAI."""
    return 0.5 * lax.erfc(x * (-(2.0**-0.5)))


def pmf_to_quantized_cdf(pmf: Sequence[float], precision: int = 16) -> np.ndarray:
    """Port of CompressAI's C++ ``pmf_to_quantized_cdf`` (from ryg_rans).

    ``pmf`` includes the tail mass as its last entry. Returns ``len(pmf) + 1``
    strictly increasing integers from 0 to ``2**precision``; zero-frequency
    symbols steal one unit from the smallest frequency > 1.
    """
    pmf = np.asarray(pmf, np.float32)
    if np.any(pmf < 0) or not np.all(np.isfinite(pmf)):
        raise ValueError("invalid pmf: negative or non-finite element")
    one = 1 << precision
    # std::round(float(p) * 2**precision): float32 product, halves rounded away from 0.
    scaled = (pmf * np.float32(one)).astype(np.float64)
    freqs = np.floor(scaled + 0.5).astype(np.int64)
    cdf = np.zeros(len(pmf) + 1, np.int64)
    cdf[1:] = freqs
    total = int(cdf.sum())
    if total == 0:
        raise ValueError("invalid pmf: at least one element must be non-zero")
    cdf = (one * cdf) // total
    cdf = np.cumsum(cdf)
    cdf[-1] = one
    n = len(cdf)
    for i in range(n - 1):
        if cdf[i] == cdf[i + 1]:
            # Steal from the first smallest frequency > 1 (C++'s strict "<" search).
            freqs = np.diff(cdf)
            cand = np.where(freqs > 1, freqs, np.iinfo(np.int64).max)
            best_steal = int(np.argmin(cand))
            assert cand[best_steal] != np.iinfo(np.int64).max
            if best_steal < i:
                cdf[best_steal + 1 : i + 1] -= 1
            else:
                cdf[i + 1 : best_steal + 1] += 1
    return cdf.astype(np.int32)


def _pmf_to_cdf_table(pmf, tail_mass, pmf_length, max_length, precision):
    table = np.zeros((len(pmf_length), max_length + 2), np.int32)
    for i, p in enumerate(pmf):
        prob = np.concatenate([p[: pmf_length[i]], tail_mass[i]])
        c = pmf_to_quantized_cdf(prob, precision)
        table[i, : c.size] = c
    return table


# ---------------------------------------------------------------------------
# Factorized entropy bottleneck
# ---------------------------------------------------------------------------


class EntropyBottleneck(nn.Module):
    """Factorized prior density of Balle et al. 2018 (CompressAI ``EntropyBottleneck``).

    Per channel, a cumulative logit ``c(x)`` is built from small matrices
    (``softplus``-positive), biases and ``tanh`` gated factors with ``filters``
    hidden widths; the likelihood of a quantised value is
    ``sigmoid(c(x+1/2)) - sigmoid(c(x-1/2))``, computed with the sign trick
    (evaluate on the side where the sigmoids are small) for precision.

    ``quantiles`` (C, 1, 3) are learned by :meth:`aux_loss`; their middle column
    gives the medians around which values are rounded. Parameter names
    ``matrices_i``/``biases_i``/``factors_i`` map to CompressAI's ``matrices.i``...
    """

    channels: int
    filters: tuple[int, ...] = (3, 3, 3, 3)
    init_scale: float = 10.0
    tail_mass: float = 1e-9
    likelihood_bound: float = 1e-9

    def setup(self):
        filters = (1,) + tuple(self.filters) + (1,)
        scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
        c = self.channels
        mats, biases, factors = [], [], []
        for i in range(len(self.filters) + 1):
            init = float(np.log(np.expm1(1.0 / scale / filters[i + 1])))
            mats.append(self.param(f"matrices_{i}", nn.initializers.constant(init), (c, filters[i + 1], filters[i])))
            biases.append(
                self.param(
                    f"biases_{i}",
                    lambda k, s: jax.random.uniform(k, s, jnp.float32, -0.5, 0.5),
                    (c, filters[i + 1], 1),
                )
            )
            if i < len(self.filters):
                factors.append(self.param(f"factors_{i}", nn.initializers.zeros, (c, filters[i + 1], 1)))
        self.matrices, self.biases, self.factors = mats, biases, factors
        s = self.init_scale
        self.quantiles = self.param(
            "quantiles",
            lambda k, shape: jnp.tile(jnp.array([-s, 0.0, s], jnp.float32), (shape[0], 1, 1)),
            (c, 1, 3),
        )

    @property
    def target(self) -> np.ndarray:
        t = np.log(2.0 / self.tail_mass - 1.0)
        return np.array([-t, 0.0, t], np.float32)

    def medians(self):
        """Per-channel medians ``quantiles[:, 0, 1]`` (C,)."""
        return self.quantiles[:, 0, 1]

    def logits_cumulative(self, inputs, stop_gradient: bool = False):
        """Cumulative logits for inputs of shape (C, 1, L)."""
        sg = lax.stop_gradient if stop_gradient else (lambda a: a)
        logits = inputs
        for i in range(len(self.filters) + 1):
            logits = jnp.matmul(jax.nn.softplus(sg(self.matrices[i])), logits)
            logits = logits + sg(self.biases[i])
            if i < len(self.filters):
                logits = logits + jnp.tanh(sg(self.factors[i])) * jnp.tanh(logits)
        return logits

    def _likelihood_cl(self, values, stop_gradient: bool = False):
        """Likelihood of (C, 1, L) values, plus lower/upper logits."""
        lower = self.logits_cumulative(values - 0.5, stop_gradient)
        upper = self.logits_cumulative(values + 0.5, stop_gradient)
        sign = lax.stop_gradient(-jnp.sign(lower + upper))
        lik = jnp.abs(jax.nn.sigmoid(sign * upper) - jax.nn.sigmoid(sign * lower))
        return lik, lower, upper

    def likelihood(self, x):
        """Likelihood (without lower bound) of already-quantised NHWC values."""
        shape = x.shape
        v = jnp.moveaxis(x, -1, 0).reshape(self.channels, 1, -1)
        lik, _, _ = self._likelihood_cl(v)
        return jnp.moveaxis(lik.reshape((self.channels,) + shape[:-1]), 0, -1)

    def __call__(self, x, training: bool = False, rng=None):
        """Quantise NHWC ``x`` (noise or median-centred rounding) -> ``(x_hat, likelihood)``."""
        shape = x.shape
        v = jnp.moveaxis(x, -1, 0).reshape(self.channels, 1, -1)
        med = self.quantiles[:, :, 1:2]
        if training:
            out = quantize(v, "noise", rng=rng)
        else:
            out = quantize(v, "dequantize", med)
        lik, _, _ = self._likelihood_cl(out)
        if self.likelihood_bound > 0:
            lik = lower_bound(lik, self.likelihood_bound)
        back = lambda a: jnp.moveaxis(a.reshape((self.channels,) + shape[:-1]), 0, -1)
        return back(out), back(lik)

    def aux_loss(self):
        """``sum |c(quantiles) - target|``: trains only the quantiles (others stop-gradient)."""
        logits = self.logits_cumulative(self.quantiles, stop_gradient=True)
        return jnp.abs(logits - jnp.asarray(self.target)).sum()

    def quantized_cdfs(self, precision: int = 16):
        """CompressAI ``EntropyBottleneck.update()``: per-channel coding tables.

        Call eagerly (outside ``jit``), e.g.
        ``model.apply(variables, method=lambda m: m.entropy_bottleneck.quantized_cdfs())``.
        Returns a dict with ``quantized_cdf`` (C, max_len+2) int32, ``cdf_length``
        (C,), ``offset`` (C,) (= -minima) and ``medians`` (C,) float32. Symbols are
        ``round(x - median)``, indexed by channel. Computed on the host in float64
        (see :func:`_np_sigmoid`) so the integers do not depend on the JAX backend.
        """
        q = np.asarray(self.quantiles, np.float32)
        medians = q[:, 0, 1]
        minima = np.maximum(np.ceil(medians - q[:, 0, 0]).astype(np.int32), 0)
        maxima = np.maximum(np.ceil(q[:, 0, 2] - medians).astype(np.int32), 0)
        pmf_start = medians - minima
        pmf_length = maxima + minima + 1
        max_length = int(pmf_length.max())
        samples = np.arange(max_length, dtype=np.float64)[None, :] + pmf_start[:, None, None]
        mats = [np.asarray(m, np.float64) for m in self.matrices]
        biases = [np.asarray(b, np.float64) for b in self.biases]
        factors = [np.asarray(f, np.float64) for f in self.factors]
        lower = _np_logits_cumulative(mats, biases, factors, samples - 0.5)
        upper = _np_logits_cumulative(mats, biases, factors, samples + 0.5)
        sign = -np.sign(lower + upper)
        pmf = np.abs(_np_sigmoid(sign * upper) - _np_sigmoid(sign * lower))[:, 0, :]
        tail = _np_sigmoid(lower[:, 0, :1]) + _np_sigmoid(-upper[:, 0, -1:])
        return {
            "quantized_cdf": _pmf_to_cdf_table(pmf, tail, pmf_length, max_length, precision),
            "cdf_length": (pmf_length + 2).astype(np.int32),
            "offset": (-minima).astype(np.int32),
            "medians": medians.astype(np.float32),
        }


def _np_sigmoid(x):
    """Host-side float64 sigmoid (coding tables are built with numpy, not XLA)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _np_logits_cumulative(mats, biases, factors, x):
    logits = x
    for i, m in enumerate(mats):
        logits = np.matmul(np.logaddexp(0.0, m), logits) + biases[i]
        if i < len(factors):
            logits = logits + np.tanh(factors[i]) * np.tanh(logits)
    return logits


# ---------------------------------------------------------------------------
# Gaussian conditional and mixture
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GaussianConditional:
    """Discretized Gaussian conditional (CompressAI ``GaussianConditional``).

    ``P(y_hat) = Phi((1/2 - |y_hat - mu|)/s) - Phi((-1/2 - |y_hat - mu|)/s)`` with
    ``s = max(scale, scale_bound)`` and the result floored at ``likelihood_bound``.
    Stateless: scales/means come from the hyper-decoder. For coding, scales map
    to indexes into ``scale_table`` (:meth:`build_indexes`) whose CDFs are
    :meth:`quantized_cdfs`.
    """

    scale_bound: float = 0.11
    likelihood_bound: float = 1e-9
    tail_mass: float = 1e-9
    scale_table: tuple[float, ...] = tuple(float(s) for s in get_scale_table())

    def quantize(self, x, mode: str, means=None, rng=None):
        return quantize(x, mode, means, rng)

    def likelihood(self, y_hat, scales, means=None):
        """Discretized Gaussian likelihood without the likelihood floor."""
        values = y_hat if means is None else y_hat - means
        scales = lower_bound(scales, self.scale_bound)
        values = jnp.abs(values)
        upper = standardized_cumulative((0.5 - values) / scales)
        lower = standardized_cumulative((-0.5 - values) / scales)
        return upper - lower

    def __call__(self, y, scales, means=None, training: bool = False, rng=None):
        """``(y_hat, likelihood)``: noise (training) or ``round(y - means) + means``."""
        y_hat = self.quantize(y, "noise" if training else "dequantize", means, rng)
        lik = self.likelihood(y_hat, scales, means)
        if self.likelihood_bound > 0:
            lik = lower_bound(lik, self.likelihood_bound)
        return y_hat, lik

    def build_indexes(self, scales):
        """Index into ``scale_table`` of the smallest table scale >= ``scale`` (int32)."""
        scales = jnp.maximum(scales, self.scale_bound)
        table = jnp.asarray(self.scale_table[:-1], jnp.float32)
        below = (scales[..., None] <= table).sum(-1)
        return (len(self.scale_table) - 1 - below).astype(jnp.int32)

    def quantized_cdfs(self, precision: int = 16):
        """CompressAI ``GaussianConditional.update()``: one CDF per table scale.

        Returns ``quantized_cdf`` (L, max_len+2), ``cdf_length`` (L,), ``offset`` (L,).
        """
        table = np.asarray(self.scale_table, np.float32)
        multiplier = np.float32(-statistics.NormalDist().inv_cdf(self.tail_mass / 2))
        pmf_center = np.ceil(table * multiplier).astype(np.int32)
        pmf_length = 2 * pmf_center + 1
        max_length = int(pmf_length.max())
        pmf = np.zeros((len(table), max_length))
        tail = np.zeros((len(table), 1))
        for i, (s, c) in enumerate(zip(table.astype(np.float64), pmf_center)):
            samples = np.abs(np.arange(2 * c + 1) - c).astype(np.float64)
            upper = _np_standardized_cumulative((0.5 - samples) / s)
            lower = _np_standardized_cumulative((-0.5 - samples) / s)
            pmf[i, : samples.size] = upper - lower
            tail[i, 0] = 2 * lower[0]
        return {
            "quantized_cdf": _pmf_to_cdf_table(pmf, tail, pmf_length, max_length, precision),
            "cdf_length": (pmf_length + 2).astype(np.int32),
            "offset": (-pmf_center).astype(np.int32),
        }


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _np_standardized_cumulative(x):
    """Host-side float64 standard normal CDF for the coding tables."""
    return 0.5 * _erfc(-(2.0**-0.5) * np.asarray(x, np.float64))


@dataclasses.dataclass(frozen=True)
class GaussianMixtureConditional:
    """K-component discretized Gaussian mixture (Cheng et al. 2020).

    ``P(y_hat) = sum_k w_k [Phi((y_hat + 1/2 - mu_k)/s_k) - Phi((y_hat - 1/2 - mu_k)/s_k)]``
    with ``w = softmax`` over components of the weight logits, ``s_k`` floored at
    ``scale_bound`` and the result floored at ``likelihood_bound``. Latents are
    rounded without a mean offset (``round(y)``), since the mixture has no
    single mean.

    Parameters are laid out as the entropy-parameter network's output, channels
    last: ``[weight logits | means | scales]``, each ``K * M`` channels ordered
    component-major (channel ``k * M + m`` is component ``k`` of latent ``m``).
    """

    K: int = 3
    scale_bound: float = 0.11
    likelihood_bound: float = 1e-9

    def split_params(self, params):
        """(..., 3*K*M) -> weights (softmaxed), means, scales, each (..., K, M)."""
        *lead, c = params.shape
        m = c // (3 * self.K)
        if m * 3 * self.K != c:
            raise ValueError(f"expected 3*K*M channels, got {c} for K={self.K}")
        w, mu, s = jnp.split(params, 3, axis=-1)
        resh = lambda a: a.reshape(*lead, self.K, m)
        return jax.nn.softmax(resh(w), axis=-2), resh(mu), resh(s)

    def likelihood(self, y_hat, weights, means, scales):
        """Mixture likelihood without floor; ``y_hat`` (..., M), params (..., K, M)."""
        scales = lower_bound(scales, self.scale_bound)
        v = jnp.abs(y_hat[..., None, :] - means)
        upper = standardized_cumulative((0.5 - v) / scales)
        lower = standardized_cumulative((-0.5 - v) / scales)
        return jnp.sum(weights * (upper - lower), axis=-2)

    def __call__(self, y, params, training: bool = False, rng=None):
        """``(y_hat, likelihood)`` from raw entropy parameters (..., 3*K*M)."""
        y_hat = quantize(y, "noise" if training else "dequantize", None, rng)
        w, mu, s = self.split_params(params)
        lik = self.likelihood(y_hat, w, mu, s)
        if self.likelihood_bound > 0:
            lik = lower_bound(lik, self.likelihood_bound)
        return y_hat, lik
