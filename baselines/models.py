"""Flax ports of CompressAI's learned image codecs (eval-mode parity with 1.2.8).

Models (``MODELS`` registry, CompressAI zoo names):

* ``bmshj2018-factorized`` :class:`FactorizedPrior` (Balle et al. 2018 / bls2017-style)
* ``bmshj2018-hyperprior`` :class:`ScaleHyperprior` (Balle et al. 2018)
* ``mbt2018-mean`` :class:`MeanScaleHyperprior` (Minnen et al. 2018)
* ``mbt2018`` :class:`JointAutoregressiveHierarchicalPriors` (Minnen et al. 2018)
* ``cheng2020-anchor`` / ``cheng2020-attn`` :class:`Cheng2020Anchor`,
  :class:`Cheng2020Attention` (Cheng et al. 2020)

Inputs/outputs are NHWC. ``model.apply(variables, x, training=False)`` returns
``{"x_hat", "y", "y_hat", "z", "z_hat", "likelihoods": {"y", "z"}}`` (no ``z``
entries for the factorized prior). In eval mode the latents are rounded exactly
as CompressAI's ``forward``:

* bottleneck: ``round(z - medians) + medians``;
* scale hyperprior: ``round(y)`` (zero-mean Gaussian);
* mean-scale hyperprior: ``round(y - mu) + mu`` for both ``x_hat`` and the likelihood;
* joint autoregressive / Cheng: ``x_hat`` and the context model use ``round(y)``
  while the single-Gaussian likelihood is evaluated at ``round(y - mu) + mu``
  (CompressAI quirk, kept for parity). With ``head="gmm"`` the likelihood is
  the K-component mixture evaluated at ``round(y)``.

Training mode (``training=True``) adds U(-1/2, 1/2) noise and needs an rng
stream named ``"noise"``. ``x_hat`` is not clamped (as CompressAI's forward).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from .entropy_models import (
    EntropyBottleneck,
    GaussianConditional,
    GaussianMixtureConditional,
)
from .layers import (
    GDN,
    AttentionBlock,
    MaskedConv2d,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    Sequential,
    conv,
    conv3x3,
    deconv,
    layer,
    leaky_relu,
    lower_bound,
    relu,
    subpel_conv3x3,
)

__all__ = [
    "FactorizedPrior",
    "ScaleHyperprior",
    "MeanScaleHyperprior",
    "JointAutoregressiveHierarchicalPriors",
    "Cheng2020Anchor",
    "Cheng2020Attention",
    "MODELS",
    "ZOO_CONFIGS",
    "default_config",
]

_gdn = layer(GDN)
_igdn = layer(GDN, inverse=True)


def _balle_g_a(N, M):
    return (conv(N), _gdn, conv(N), _gdn, conv(N), _gdn, conv(M))


def _balle_g_s(N):
    return (deconv(N), _igdn, deconv(N), _igdn, deconv(N), _igdn, deconv(3))


class _CompressionModel(nn.Module):
    """Common pieces: transform/entropy sub-modules built in ``setup`` from layer specs."""

    def _noise_rng(self, training: bool):
        return self.make_rng("noise") if training else None

    def aux_loss(self):
        """Quantile loss of the entropy bottleneck (optimise quantiles only with it)."""
        return self.entropy_bottleneck.aux_loss()

    @property
    def downsampling_factor(self) -> int:
        return 2**6


class FactorizedPrior(_CompressionModel):
    """``bmshj2018-factorized``: GDN analysis/synthesis + factorized bottleneck on y."""

    N: int = 128
    M: int = 192

    def setup(self):
        self.g_a = Sequential(_balle_g_a(self.N, self.M))
        self.g_s = Sequential(_balle_g_s(self.N))
        self.entropy_bottleneck = EntropyBottleneck(self.M)

    @property
    def downsampling_factor(self) -> int:
        return 2**4

    def __call__(self, x, training: bool = False):
        y = self.g_a(x)
        y_hat, y_lik = self.entropy_bottleneck(y, training, self._noise_rng(training))
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "y": y, "y_hat": y_hat, "likelihoods": {"y": y_lik}}


class ScaleHyperprior(_CompressionModel):
    """``bmshj2018-hyperprior``: zero-mean Gaussian y with scales from a hyperprior on |y|."""

    N: int = 128
    M: int = 192

    def _h_a(self):
        N = self.N
        return (conv(N, 3, 1), relu, conv(N), relu, conv(N))

    def _h_s(self):
        N, M = self.N, self.M
        return (deconv(N), relu, deconv(N), relu, conv(M, 3, 1), relu)

    def _g_a(self):
        return _balle_g_a(self.N, self.M)

    def _g_s(self):
        return _balle_g_s(self.N)

    def setup(self):
        self.g_a = Sequential(self._g_a())
        self.g_s = Sequential(self._g_s())
        self.h_a = Sequential(self._h_a())
        self.h_s = Sequential(self._h_s())
        self.entropy_bottleneck = EntropyBottleneck(self.N)
        self.gaussian_conditional = GaussianConditional()

    def __call__(self, x, training: bool = False):
        y = self.g_a(x)
        z = self.h_a(jnp.abs(y))
        z_hat, z_lik = self.entropy_bottleneck(z, training, self._noise_rng(training))
        scales = self.h_s(z_hat)
        y_hat, y_lik = self.gaussian_conditional(y, scales, None, training, self._noise_rng(training))
        x_hat = self.g_s(y_hat)
        return {
            "x_hat": x_hat,
            "y": y,
            "y_hat": y_hat,
            "z": z,
            "z_hat": z_hat,
            "scales": scales,
            "likelihoods": {"y": y_lik, "z": z_lik},
        }


class MeanScaleHyperprior(ScaleHyperprior):
    """``mbt2018-mean``: Gaussian y with (scale, mean) from the hyperprior (LeakyReLU)."""

    def _h_a(self):
        N = self.N
        return (conv(N, 3, 1), leaky_relu, conv(N), leaky_relu, conv(N))

    def _h_s(self):
        M = self.M
        return (deconv(M), leaky_relu, deconv(M * 3 // 2), leaky_relu, conv(M * 2, 3, 1))

    def __call__(self, x, training: bool = False):
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z, training, self._noise_rng(training))
        scales, means = jnp.split(self.h_s(z_hat), 2, axis=-1)
        y_hat, y_lik = self.gaussian_conditional(y, scales, means, training, self._noise_rng(training))
        x_hat = self.g_s(y_hat)
        return {
            "x_hat": x_hat,
            "y": y,
            "y_hat": y_hat,
            "z": z,
            "z_hat": z_hat,
            "scales": scales,
            "means": means,
            "likelihoods": {"y": y_lik, "z": z_lik},
        }


class JointAutoregressiveHierarchicalPriors(MeanScaleHyperprior):
    """``mbt2018``: mean-scale hyperprior + 5x5 masked (type A) context model.

    ``head="gaussian"``: CompressAI's single Gaussian (``entropy_parameters``
    outputs ``2M`` = scales | means). ``head="gmm"``: Cheng et al.'s K-component
    mixture; the last 1x1 conv outputs ``3*K*M`` channels ordered
    ``[weight logits | means | scales]`` (see :class:`GaussianMixtureConditional`),
    hidden widths unchanged (``10M/3``, ``8M/3``).
    """

    N: int = 192
    M: int = 192
    head: str = "gaussian"
    K: int = 3

    @property
    def latent_channels(self) -> int:
        return self.M

    def _h_a(self):
        N = self.N
        return (conv(N, 3, 1), leaky_relu, conv(N, 5, 2), leaky_relu, conv(N, 5, 2))

    def _h_s(self):
        M = self.latent_channels
        return (deconv(M), leaky_relu, deconv(M * 3 // 2), leaky_relu, conv(M * 2, 3, 1))

    def _entropy_parameters(self):
        M = self.latent_channels
        out = 2 * M if self.head == "gaussian" else 3 * self.K * M
        return (conv(M * 10 // 3, 1, 1), leaky_relu, conv(M * 8 // 3, 1, 1), leaky_relu, conv(out, 1, 1))

    def setup(self):
        if self.head not in ("gaussian", "gmm"):
            raise ValueError(f"head must be 'gaussian' or 'gmm', got {self.head!r}")
        super().setup()
        M = self.latent_channels
        self.entropy_parameters = Sequential(self._entropy_parameters())
        self.context_prediction = MaskedConv2d(2 * M, kernel_size=5, padding=2, mask_type="A")
        self.gaussian_mixture = GaussianMixtureConditional(self.K)

    def __call__(self, x, training: bool = False):
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z, training, self._noise_rng(training))
        params = self.h_s(z_hat)
        gc = self.gaussian_conditional
        y_hat = gc.quantize(y, "noise" if training else "dequantize", rng=self._noise_rng(training))
        ctx = self.context_prediction(y_hat)
        gp = self.entropy_parameters(jnp.concatenate([params, ctx], axis=-1))
        out = {"y": y, "y_hat": y_hat, "z": z, "z_hat": z_hat, "entropy_params": gp}
        if self.head == "gaussian":
            scales, means = jnp.split(gp, 2, axis=-1)
            _, y_lik = gc(y, scales, means, training, self._noise_rng(training))
            out.update(scales=scales, means=means)
        else:
            w, mu, s = self.gaussian_mixture.split_params(gp)
            y_lik = self.gaussian_mixture.likelihood(y_hat, w, mu, s)
            y_lik = _floor(y_lik, self.gaussian_mixture.likelihood_bound)
        out["x_hat"] = self.g_s(y_hat)
        out["likelihoods"] = {"y": y_lik, "z": z_lik}
        return out


def _floor(lik, bound):
    return lower_bound(lik, bound) if bound > 0 else lik


class Cheng2020Anchor(JointAutoregressiveHierarchicalPriors):
    """``cheng2020-anchor``: residual blocks + sub-pixel convs, M = N, context model.

    ``head="gaussian"`` is CompressAI's zoo model; ``head="gmm"`` the paper's K=3 mixture.
    """

    N: int = 192
    M: int | None = None  # always N; kept so the kwargs mirror the other models

    @property
    def latent_channels(self) -> int:
        if self.M is not None and self.M != self.N:
            raise ValueError("cheng2020 models use M = N")
        return self.N

    def _g_a(self):
        N = self.N
        rbs = layer(ResidualBlockWithStride, features=N, stride=2)
        rb = layer(ResidualBlock, features=N)
        return (rbs, rb, rbs, rb, rbs, rb, conv3x3(N, 2))

    def _h_a(self):
        N = self.N
        lr = leaky_relu
        return (conv3x3(N), lr, conv3x3(N), lr, conv3x3(N, 2), lr, conv3x3(N), lr, conv3x3(N, 2))

    def _h_s(self):
        N = self.N
        lr = leaky_relu
        return (
            conv3x3(N),
            lr,
            subpel_conv3x3(N, 2),
            lr,
            conv3x3(N * 3 // 2),
            lr,
            subpel_conv3x3(N * 3 // 2, 2),
            lr,
            conv3x3(N * 2),
        )

    def _g_s(self):
        N = self.N
        rb = layer(ResidualBlock, features=N)
        rbu = layer(ResidualBlockUpsample, features=N, upsample=2)
        return (rb, rbu, rb, rbu, rb, rbu, rb, subpel_conv3x3(3, 2))


class Cheng2020Attention(Cheng2020Anchor):
    """``cheng2020-attn``: the anchor with CompressAI's simplified attention blocks."""

    def _g_a(self):
        N = self.N
        rbs = layer(ResidualBlockWithStride, features=N, stride=2)
        rb = layer(ResidualBlock, features=N)
        at = layer(AttentionBlock, features=N)
        return (rbs, rb, rbs, at, rb, rbs, rb, conv3x3(N, 2), at)

    def _g_s(self):
        N = self.N
        rb = layer(ResidualBlock, features=N)
        rbu = layer(ResidualBlockUpsample, features=N, upsample=2)
        at = layer(AttentionBlock, features=N)
        return (at, rb, rbu, rb, rbu, at, rb, rbu, rb, subpel_conv3x3(3, 2))


MODELS = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cheng2020-anchor": Cheng2020Anchor,
    "cheng2020-attn": Cheng2020Attention,
}

# CompressAI zoo ``cfgs``: quality -> (N, M) (cheng2020: (N,)).
_BALLE = {q: (128, 192) if q <= 5 else (192, 320) for q in range(1, 9)}
ZOO_CONFIGS = {
    "bmshj2018-factorized": dict(_BALLE),
    "bmshj2018-hyperprior": dict(_BALLE),
    "mbt2018-mean": {q: (128, 192) if q <= 4 else (192, 320) for q in range(1, 9)},
    "mbt2018": {q: (192, 192) if q <= 4 else (192, 320) for q in range(1, 9)},
    "cheng2020-anchor": {q: (128,) if q <= 3 else (192,) for q in range(1, 7)},
    "cheng2020-attn": {q: (128,) if q <= 3 else (192,) for q in range(1, 7)},
}


def default_config(name: str, quality: int = 1) -> dict:
    """Constructor kwargs (``N``, ``M``) of CompressAI's zoo model ``name`` at ``quality``."""
    if name not in ZOO_CONFIGS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    cfg = ZOO_CONFIGS[name]
    if quality not in cfg:
        raise ValueError(f"quality {quality} not in {min(cfg)}..{max(cfg)} for {name}")
    vals = cfg[quality]
    return dict(zip(("N", "M"), vals))
