"""The image model: grid shapes, causal ARM, Laplace rate, upsampling, synthesis tiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coolchic.config import ModelConfig, causal_context
from coolchic.model import tiling
from coolchic.model.arm import canvas_layout, grid_distribution, init_arm, latent_bits
from coolchic.model.image import decode_image, init_params, rd_terms
from coolchic.model.laplace import laplace_bits
from coolchic.model.latents import grid_shapes
from coolchic.model.upsampling import bicubic_kernel, bilinear_axis


@pytest.mark.parametrize("h,w", [(17, 13), (1, 1), (512, 768), (33, 64), (2, 3)])
def test_grid_shapes_ceil_division(h, w):
    shapes = grid_shapes(h, w, 7)
    assert len(shapes) == 7
    for i, (gh, gw) in enumerate(shapes):
        assert gh == -(-h // 2**i) and gw == -(-w // 2**i)
        assert gh * 2**i >= h and (gh - 1) * 2**i < h


def test_grid_shapes_reject_empty():
    with pytest.raises(ValueError):
        grid_shapes(0, 5, 3)


@pytest.mark.parametrize("size,n", [(3, 4), (5, 12), (7, 24)])
def test_context_is_strictly_causal_half_mask(size, n):
    ctx = causal_context(size)
    assert len(ctx) == n == len(set(ctx))
    assert all(dy < 0 or (dy == 0 and dx < 0) for dy, dx in ctx)


def test_arm_never_sees_the_future():
    """Changing latent p never changes the distribution of any latent before p in raster order."""
    config = ModelConfig()
    arm = init_arm(jax.random.PRNGKey(0), config)
    # Non-zero output layer so that the output depends on the inputs.
    arm["layers"][-1]["w"] = jax.random.normal(jax.random.PRNGKey(1), arm["layers"][-1]["w"].shape)
    rng = np.random.default_rng(0)
    g = jnp.asarray(rng.integers(-3, 4, (9, 11)).astype(np.float32))
    mu0, ls0 = grid_distribution(arm, g, config)
    for p in [(0, 0), (4, 5), (8, 10), (3, 0), (0, 10)]:
        g2 = g.at[p].add(5.0)
        mu, ls = grid_distribution(arm, g2, config)
        changed = np.asarray((mu != mu0) | (ls != ls0))
        order = np.arange(g.size).reshape(g.shape)
        before = order <= order[p]  # the latent itself is not in its own context either
        assert not changed[before].any(), f"perturbing {p} changed an earlier distribution"
        if p != (8, 10):
            assert changed[~before].any(), "perturbation should influence some later latent"


def test_laplace_rate_matches_numpy():
    rng = np.random.default_rng(1)
    y = rng.integers(-20, 21, 1000).astype(np.float64)
    mu = rng.normal(0, 3, 1000)
    log_b = rng.uniform(-4, 4, 1000)
    b = np.exp(log_b)

    def cdf(v):
        return np.where(v < mu, 0.5 * np.exp((v - mu) / b), 1 - 0.5 * np.exp(-(v - mu) / b))

    p = np.maximum(cdf(y + 0.5) - cdf(y - 0.5), 2.0**-16)
    ref = -np.log2(p)
    got = np.asarray(
        laplace_bits(jnp.asarray(y, jnp.float32), jnp.asarray(mu, jnp.float32), jnp.asarray(log_b, jnp.float32))
    )
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4)


def test_canvas_rate_equals_per_grid_rate():
    """All grids share one canvas: the gaps must make it identical to coding each grid alone."""
    config = ModelConfig()
    arm = init_arm(jax.random.PRNGKey(0), config)
    arm["layers"][-1]["w"] = 0.3 * jax.random.normal(jax.random.PRNGKey(1), arm["layers"][-1]["w"].shape)
    rng = np.random.default_rng(2)
    grids = [jnp.asarray(rng.integers(-2, 3, s).astype(np.float32)) for s in grid_shapes(21, 30, 7)]
    total = float(jax.jit(lambda a, gs: latent_bits(a, gs, config))(arm, grids))  # jitted: eager is slower

    @jax.jit
    def separate_bits(a, gs):
        return sum(jnp.sum(laplace_bits(g, *grid_distribution(a, g, config))) for g in gs)

    separate = float(separate_bits(arm, grids))
    np.testing.assert_allclose(total, separate, rtol=1e-5)
    places, (hc, wc) = canvas_layout([g.shape for g in grids], config)
    assert all(r + g.shape[0] <= hc and c + g.shape[1] <= wc for (r, c), g in zip(places, grids))


def test_tiled_computation_equals_untiled(monkeypatch, kodak_crop):
    """Row tiles (with halos) give the same rate and reconstruction as one big tile."""
    config = ModelConfig()
    x = jnp.asarray(kodak_crop(1, 37, 29))
    params = init_params(jax.random.PRNGKey(3), config, 37, 29)
    rng = np.random.default_rng(0)
    params["latents"] = [jnp.asarray(rng.normal(0, 2, g.shape).astype(np.float32)) for g in params["latents"]]
    params["synthesis"]["convs"] = [
        {"w": 0.1 * jax.random.normal(jax.random.PRNGKey(i), (3, 3, 3, 3)), "b": jnp.zeros(3)} for i in range(2)
    ]
    # Jitted (traced afresh after the patch): eager dispatch of the small ops is slower.
    both = lambda p: (rd_terms(p, p["latents"], config, x), decode_image(p, p["latents"], config, 37, 29))
    (ref_mse, ref_bits), ref_img = jax.jit(both)(params)
    monkeypatch.setattr(tiling, "TILE_POSITIONS", 5 * 29)  # 5-row tiles and a remainder
    assert tiling.tile_rows(37, 29) == 5
    (mse, bits), img = jax.jit(both)(params)
    np.testing.assert_allclose(float(bits), float(ref_bits), rtol=1e-5)
    np.testing.assert_allclose(float(mse), float(ref_mse), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(img), np.asarray(ref_img), atol=1e-6)


@pytest.mark.parametrize("factor", [2, 4, 8, 64])
def test_bilinear_matches_half_pixel_resize(factor):
    x = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    up = np.asarray(bilinear_axis(bilinear_axis(jnp.asarray(x), factor, 0), factor, 1))
    ref = np.asarray(jax.image.resize(jnp.asarray(x), (6 * factor, 5 * factor), "bilinear", antialias=False))
    np.testing.assert_allclose(up, ref, atol=1e-5)


def test_bicubic_kernel_interpolates_constants_and_ramps():
    k = bicubic_kernel(8)
    np.testing.assert_allclose(k.sum(1), 1.0, rtol=1e-6)
    from coolchic.model.upsampling import phase_filter_axis

    ramp = jnp.arange(12.0)
    up = np.asarray(phase_filter_axis(ramp, jnp.asarray(k), 0))
    # Away from the clamped edges a linear ramp is reproduced exactly at half-pixel positions.
    np.testing.assert_allclose(up[4:-4], (np.arange(24) + 0.5)[4:-4] / 2 - 0.5 + 0.0, atol=1e-5)


def test_learned_upsampling_model_runs_on_odd_size(kodak_crop):
    config = ModelConfig(upsampling="learned", n_grids=4)
    params = init_params(jax.random.PRNGKey(0), config, 13, 17)
    img = decode_image(params, params["latents"], config, 13, 17)
    assert img.shape == (3, 13, 17)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
