"""Flax (linen) layers of CompressAI's learned codecs, NHWC activations.

Weights are kept in PyTorch layout and under PyTorch names (``weight`` OIHW for
convolutions, IOHW for transposed convolutions, ``bias``, GDN's raw ``beta`` /
``gamma``), and sub-modules are named like CompressAI's (``"0"``, ``"conv1"``,
``"subpel_conv"`` ...). A CompressAI ``state_dict`` therefore maps onto the Flax
parameter tree by splitting its keys on dots (see :mod:`baselines.compressai_import`),
and exporting back is the inverse; only activations use NHWC.

Initialisers reproduce PyTorch's defaults (uniform in +-1/sqrt(fan_in)) so that
training from scratch starts from the same distribution as CompressAI.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "lower_bound",
    "non_negative",
    "Sequential",
    "layer",
    "Conv2d",
    "ConvTranspose2d",
    "MaskedConv2d",
    "conv",
    "deconv",
    "conv1x1",
    "conv3x3",
    "pixel_shuffle",
    "SubpelConv3x3",
    "subpel_conv3x3",
    "GDN",
    "ResidualBlock",
    "ResidualBlockWithStride",
    "ResidualBlockUpsample",
    "AttentionBlock",
    "relu",
    "leaky_relu",
    "type_a_mask",
]

_DN = ("NHWC", "OIHW", "NHWC")
_DN_T = ("NHWC", "IOHW", "NHWC")


# ---------------------------------------------------------------------------
# Bounds and reparameterisation
# ---------------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def lower_bound(x, bound: float):
    """``max(x, bound)`` with CompressAI's ``LowerBound`` gradient.

    The gradient passes where ``x >= bound`` or where it pushes ``x`` upwards
    (``g < 0``), so a parameter stuck below the bound can still recover.
    """
    return jnp.maximum(x, jnp.asarray(bound, x.dtype))


def _lb_fwd(x, bound):
    return lower_bound(x, bound), x


def _lb_bwd(bound, x, g):
    passthrough = (x >= bound) | (g < 0)
    return (jnp.where(passthrough, g, jnp.zeros_like(g)),)


lower_bound.defvjp(_lb_fwd, _lb_bwd)


REPARAM_OFFSET = 2.0**-18


def _f32(v: float) -> float:
    return float(np.float32(v))


def non_negative(param, minimum: float = 0.0, reparam_offset: float = REPARAM_OFFSET):
    """CompressAI ``NonNegativeParametrizer.forward``: ``lower_bound(p)**2 - pedestal``.

    Constants are rounded to float32 exactly as the PyTorch buffers are.
    """
    pedestal = _f32(reparam_offset**2)
    bound = _f32((minimum + reparam_offset**2) ** 0.5)
    out = lower_bound(param, bound)
    return out * out - jnp.asarray(pedestal, param.dtype)


def non_negative_init(value, minimum: float = 0.0, reparam_offset: float = REPARAM_OFFSET):
    """Inverse of :func:`non_negative` used at initialisation (``sqrt(max(x+ped, ped))``)."""
    pedestal = np.float32(reparam_offset**2)
    return jnp.sqrt(jnp.maximum(value + pedestal, pedestal))


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------


def layer(cls, **kwargs):
    """A deferred sub-module for :class:`Sequential` (instantiated with its index as name)."""
    return functools.partial(cls, **kwargs)


def relu(x):
    return jax.nn.relu(x)


def leaky_relu(x):
    """PyTorch ``nn.LeakyReLU()`` (negative slope 0.01)."""
    return jax.nn.leaky_relu(x, negative_slope=0.01)


class Sequential(nn.Module):
    """``nn.Sequential`` with PyTorch-style child names ``"0"``, ``"1"``, ...

    ``layers`` holds :func:`layer` partials (modules, named by their index, so
    activation functions also take an index as in PyTorch) or plain functions.
    """

    layers: Sequence[Any]

    @nn.compact
    def __call__(self, x):
        for i, f in enumerate(self.layers):
            if isinstance(f, functools.partial) and isinstance(f.func, type) and issubclass(f.func, nn.Module):
                x = f(name=str(i))(x)
            else:
                x = f(x)
        return x


# ---------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------


def _torch_uniform(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Conv2d(nn.Module):
    """PyTorch ``nn.Conv2d`` (zero padding ``kernel_size // 2`` by default), NHWC in/out."""

    features: int
    kernel_size: int = 3
    stride: int = 1
    padding: int | None = None
    use_bias: bool = True
    precision: Any = None

    def _kernel(self, w):
        return w

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        cin = x.shape[-1]
        w = self.param("weight", _torch_uniform(cin * k * k), (self.features, cin, k, k))
        w = self._kernel(w)
        p = k // 2 if self.padding is None else self.padding
        y = lax.conv_general_dilated(
            x,
            w.astype(x.dtype),
            window_strides=(self.stride, self.stride),
            padding=((p, p), (p, p)),
            dimension_numbers=_DN,
            precision=self.precision,
        )
        if self.use_bias:
            b = self.param("bias", _torch_uniform(cin * k * k), (self.features,))
            y = y + b.astype(y.dtype)
        return y


def type_a_mask(kernel_size: int = 5, mask_type: str = "A") -> np.ndarray:
    """CompressAI ``MaskedConv2d`` spatial mask (k, k): 1 on strictly causal taps.

    Type "A" also masks the centre (the current latent); "B" keeps it.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"invalid mask type {mask_type!r}")
    m = np.ones((kernel_size, kernel_size), np.float32)
    c = kernel_size // 2
    m[c, c + (mask_type == "B") :] = 0
    m[c + 1 :, :] = 0
    return m


class MaskedConv2d(Conv2d):
    """PixelCNN masked convolution (CompressAI ``MaskedConv2d``); weights are masked at use."""

    mask_type: str = "A"

    def _kernel(self, w):
        return w * jnp.asarray(type_a_mask(self.kernel_size, self.mask_type), w.dtype)


class ConvTranspose2d(nn.Module):
    """PyTorch ``nn.ConvTranspose2d`` with IOHW ``weight``, NHWC in/out.

    Implemented as the equivalent forward convolution: input dilated by the
    stride (``lhs_dilation``), kernel flipped spatially with in/out roles swapped,
    padding ``(k-1-p, k-1-p+output_padding)``. For k=5, s=2, p=2, op=1 the output
    is exactly twice the input size, as in CompressAI's ``deconv``.
    """

    features: int
    kernel_size: int = 5
    stride: int = 2
    padding: int | None = None
    output_padding: int | None = None
    use_bias: bool = True
    precision: Any = None

    @nn.compact
    def __call__(self, x):
        k, s = self.kernel_size, self.stride
        cin = x.shape[-1]
        # PyTorch computes fan_in from weight.size(1) * k * k = out_channels * k * k.
        fan_in = self.features * k * k
        w = self.param("weight", _torch_uniform(fan_in), (cin, self.features, k, k))
        p = k // 2 if self.padding is None else self.padding
        op = s - 1 if self.output_padding is None else self.output_padding
        lo, hi = k - 1 - p, k - 1 - p + op
        y = lax.conv_general_dilated(
            x,
            w[:, :, ::-1, ::-1].astype(x.dtype),
            window_strides=(1, 1),
            padding=((lo, hi), (lo, hi)),
            lhs_dilation=(s, s),
            dimension_numbers=_DN_T,
            precision=self.precision,
        )
        if self.use_bias:
            b = self.param("bias", _torch_uniform(fan_in), (self.features,))
            y = y + b.astype(y.dtype)
        return y


def conv(out_channels: int, kernel_size: int = 5, stride: int = 2):
    """CompressAI ``models.utils.conv`` (padding ``k // 2``) as a :class:`Sequential` layer."""
    return layer(Conv2d, features=out_channels, kernel_size=kernel_size, stride=stride)


def deconv(out_channels: int, kernel_size: int = 5, stride: int = 2):
    """CompressAI ``models.utils.deconv`` (padding ``k // 2``, output_padding ``stride - 1``)."""
    return layer(ConvTranspose2d, features=out_channels, kernel_size=kernel_size, stride=stride)


def conv3x3(out_channels: int, stride: int = 1):
    return layer(Conv2d, features=out_channels, kernel_size=3, stride=stride)


def conv1x1(out_channels: int, stride: int = 1):
    return layer(Conv2d, features=out_channels, kernel_size=1, stride=stride)


def pixel_shuffle(x, r: int):
    """PyTorch ``nn.PixelShuffle(r)`` on NHWC tensors.

    PyTorch maps input channel ``c*r*r + i*r + j`` to output channel ``c`` at
    sub-position ``(i, j)``; the reshape below keeps that channel order.
    """
    n, h, w, crr = x.shape
    c = crr // (r * r)
    x = x.reshape(n, h, w, c, r, r)
    x = x.transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, h * r, w * r, c)


class SubpelConv3x3(nn.Module):
    """CompressAI ``subpel_conv3x3``: 3x3 conv to ``out*r*r`` channels, then pixel shuffle.

    The conv is the child ``"0"`` (as in the PyTorch ``Sequential``).
    """

    features: int
    r: int = 2

    @nn.compact
    def __call__(self, x):
        x = Conv2d(self.features * self.r * self.r, kernel_size=3, name="0")(x)
        return pixel_shuffle(x, self.r)


def subpel_conv3x3(out_channels: int, r: int = 2):
    return layer(SubpelConv3x3, features=out_channels, r=r)


# ---------------------------------------------------------------------------
# GDN
# ---------------------------------------------------------------------------


class GDN(nn.Module):
    """Generalized divisive normalisation (Balle et al. 2016), CompressAI's variant.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (``inverse``: multiply).
    ``beta`` and ``gamma`` are stored reparameterised exactly as CompressAI's
    parameters (``value = lower_bound(param)^2 - pedestal``), so raw CompressAI
    tensors load unchanged.
    """

    inverse: bool = False
    beta_min: float = 1e-6
    gamma_init: float = 0.1

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        beta_raw = self.param("beta", lambda k, s: non_negative_init(jnp.ones(s), self.beta_min), (c,))
        gamma_raw = self.param("gamma", lambda k, s: non_negative_init(self.gamma_init * jnp.eye(s[0])), (c, c))
        beta = non_negative(beta_raw, self.beta_min)
        gamma = non_negative(gamma_raw, 0.0)
        # 1x1 conv of x^2 with weight gamma[i, j] (out i, in j) and bias beta.
        norm = jnp.einsum("...j,ij->...i", x * x, gamma.astype(x.dtype)) + beta.astype(x.dtype)
        return x * (jnp.sqrt(norm) if self.inverse else lax.rsqrt(norm))


# ---------------------------------------------------------------------------
# Residual / attention blocks (Cheng et al. 2020, CompressAI layers.py)
# ---------------------------------------------------------------------------


class ResidualBlockWithStride(nn.Module):
    """conv3x3(stride) -> LeakyReLU -> conv3x3 -> GDN, plus 1x1 strided skip."""

    features: int
    stride: int = 2

    @nn.compact
    def __call__(self, x):
        out = Conv2d(self.features, 3, self.stride, name="conv1")(x)
        out = leaky_relu(out)
        out = Conv2d(self.features, 3, name="conv2")(out)
        out = GDN(name="gdn")(out)
        if self.stride != 1 or x.shape[-1] != self.features:
            identity = Conv2d(self.features, 1, self.stride, name="skip")(x)
        else:
            identity = x
        return out + identity


class ResidualBlockUpsample(nn.Module):
    """subpel conv -> LeakyReLU -> conv3x3 -> IGDN, plus sub-pixel upsampled skip."""

    features: int
    upsample: int = 2

    @nn.compact
    def __call__(self, x):
        out = SubpelConv3x3(self.features, self.upsample, name="subpel_conv")(x)
        out = leaky_relu(out)
        out = Conv2d(self.features, 3, name="conv")(out)
        out = GDN(inverse=True, name="igdn")(out)
        identity = SubpelConv3x3(self.features, self.upsample, name="upsample")(x)
        return out + identity


class ResidualBlock(nn.Module):
    """Two 3x3 convs with LeakyReLU after each, plus identity (or 1x1) skip."""

    features: int

    @nn.compact
    def __call__(self, x):
        out = Conv2d(self.features, 3, name="conv1")(x)
        out = leaky_relu(out)
        out = Conv2d(self.features, 3, name="conv2")(out)
        out = leaky_relu(out)
        identity = x if x.shape[-1] == self.features else Conv2d(self.features, 1, name="skip")(x)
        return out + identity


class _ResidualUnit(nn.Module):
    """Attention block's unit: relu(x + conv1x1(relu(conv3x3(relu(conv1x1(x))))))."""

    features: int

    @nn.compact
    def __call__(self, x):
        n = self.features
        out = Sequential((conv1x1(n // 2), relu, conv3x3(n // 2), relu, conv1x1(n)), name="conv")(x)
        return relu(out + x)


class AttentionBlock(nn.Module):
    """CompressAI's simplified attention of Cheng et al. 2020: ``x + a * sigmoid(b)``.

    ``a`` = three residual units, ``b`` = three residual units + 1x1 conv.
    """

    features: int

    @nn.compact
    def __call__(self, x):
        n = self.features
        unit = layer(_ResidualUnit, features=n)
        a = Sequential((unit, unit, unit), name="conv_a")(x)
        b = Sequential((unit, unit, unit, conv1x1(n)), name="conv_b")(x)
        return x + a * jax.nn.sigmoid(b)
