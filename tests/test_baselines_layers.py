"""Layers of the baselines against direct numpy definitions (PyTorch semantics)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from baselines.layers import (
    GDN,
    REPARAM_OFFSET,
    ConvTranspose2d,
    MaskedConv2d,
    lower_bound,
    pixel_shuffle,
    type_a_mask,
)


def _np_nonneg(p, minimum):
    ped = np.float32(REPARAM_OFFSET**2)
    bound = np.float32((minimum + REPARAM_OFFSET**2) ** 0.5)
    return np.maximum(p, bound) ** 2 - ped


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_matches_formula(inverse):
    rng = np.random.default_rng(0)
    C = 6
    x = rng.normal(size=(2, 5, 4, C)).astype(np.float32)
    beta = rng.uniform(-0.1, 1.5, size=C).astype(np.float32)  # some below the bound
    gamma = rng.uniform(-0.05, 0.4, size=(C, C)).astype(np.float32)
    mod = GDN(inverse=inverse)
    y = np.asarray(mod.apply({"params": {"beta": beta, "gamma": gamma}}, x))
    b = _np_nonneg(beta.astype(np.float64), 1e-6)
    g = _np_nonneg(gamma.astype(np.float64), 0.0)
    norm = b + np.einsum("nhwj,ij->nhwi", x.astype(np.float64) ** 2, g)
    ref = x * np.sqrt(norm) if inverse else x / np.sqrt(norm)
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=1e-6)


def test_gdn_init_is_near_identity_normaliser():
    mod = GDN()
    v = mod.init(jax.random.key(0), jnp.zeros((1, 2, 2, 3)))
    x = jnp.full((1, 2, 2, 3), 0.5)
    # beta = 1, gamma = 0.1 I: y = x / sqrt(1 + 0.1 x^2)
    np.testing.assert_allclose(mod.apply(v, x), 0.5 / np.sqrt(1 + 0.1 * 0.25), rtol=1e-5)


def test_masked_conv_is_causal():
    """Output at (r, c) depends only on inputs strictly before it in raster order."""
    mod = MaskedConv2d(4, kernel_size=5, padding=2, mask_type="A")
    x = jax.random.normal(jax.random.key(1), (1, 9, 9, 3))
    v = mod.init(jax.random.key(2), x)
    r, c = 4, 4
    jac = jax.jit(jax.jacrev(lambda x: mod.apply(v, x)[0, r, c]))(x)  # (4, 1, 9, 9, 3)
    dep = np.abs(np.asarray(jac)).sum(axis=(0, 1, 4))
    for i in range(9):
        for j in range(9):
            in_window = abs(i - r) <= 2 and abs(j - c) <= 2
            causal = i < r or (i == r and j < c)
            assert (dep[i, j] > 0) == (in_window and causal), (i, j)
    m = type_a_mask(5)
    assert m.sum() == 12 and m[2, 2] == 0 and m[2, 1] == 1 and m[3:].sum() == 0


def _np_conv_transpose(x, w, b, s, p, op):
    """PyTorch ConvTranspose2d by scattering (NCHW x, IOHW w)."""
    n, cin, H, W = x.shape
    _, cout, k, _ = w.shape
    Ho, Wo = (H - 1) * s - 2 * p + k + op, (W - 1) * s - 2 * p + k + op
    full = np.zeros((n, cout, max(Ho + p, (H - 1) * s + k), max(Wo + p, (W - 1) * s + k)))
    for h in range(H):
        for ww in range(W):
            full[:, :, h * s : h * s + k, ww * s : ww * s + k] += np.einsum("ni,iokl->nokl", x[:, :, h, ww], w)
    return full[:, :, p : p + Ho, p : p + Wo] + b[None, :, None, None]


@pytest.mark.parametrize("k,s", [(5, 2), (3, 2), (5, 1)])
def test_conv_transpose_matches_pytorch_definition(k, s):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 5, 4)).astype(np.float32)
    w = rng.normal(size=(3, 2, k, k)).astype(np.float32)
    b = rng.normal(size=(2,)).astype(np.float32)
    mod = ConvTranspose2d(2, kernel_size=k, stride=s)
    y = mod.apply({"params": {"weight": w, "bias": b}}, x.transpose(0, 2, 3, 1))
    ref = _np_conv_transpose(x.astype(np.float64), w, b, s, k // 2, s - 1)
    assert y.shape == (1, ref.shape[2], ref.shape[3], 2)
    np.testing.assert_allclose(np.asarray(y).transpose(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-5)
    if s == 2:
        assert y.shape[1:3] == (10, 8)


def test_pixel_shuffle_pytorch_channel_order():
    r, C, H, W = 2, 3, 2, 3
    x = np.arange(C * r * r * H * W, dtype=np.float32).reshape(1, C * r * r, H, W)
    ref = np.zeros((1, C, H * r, W * r), np.float32)
    for c in range(C):
        for i in range(r):
            for j in range(r):
                ref[0, c, i::r, j::r] = x[0, c * r * r + i * r + j]
    y = pixel_shuffle(jnp.asarray(x.transpose(0, 2, 3, 1)), r)
    np.testing.assert_array_equal(np.asarray(y).transpose(0, 3, 1, 2), ref)


def test_lower_bound_gradient():
    g = jax.grad(lambda x: jnp.sum(lower_bound(x, 1.0) * jnp.array([1.0, 1.0, -1.0])))
    # x >= bound: passes; x < bound with loss decreasing upwards (g<0): passes; else 0.
    np.testing.assert_array_equal(g(jnp.array([2.0, 0.0, 0.0])), [1.0, 0.0, -1.0])
