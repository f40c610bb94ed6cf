"""C3 recipe: soft-round, Kumaraswamy noise, the two quantizers, and a short fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import beta

from c3 import (
    SoftRoundNoise,
    SoftRoundSTE,
    c3_recipe,
    kumaraswamy_b,
    kumaraswamy_cdf,
    kumaraswamy_inv_cdf,
    kumaraswamy_mean,
    kumaraswamy_noise,
    soft_round,
    soft_round_conditional_mean,
    soft_round_inverse,
)
from coolchic.config import ModelConfig, causal_context
from coolchic.fitting.optimizers import Adam
from coolchic.fitting.recipes import RECIPES, get_recipe

SMALL = ModelConfig(n_grids=4, context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8,))


def _soft_round_ref(x, t):
    x = np.asarray(x, np.float64)
    r = x - np.floor(x)
    return np.floor(x) + 0.5 + np.tanh((r - 0.5) / t) / (2 * np.tanh(1 / (2 * t)))


# ----------------------------------------------------------------------------- soft round


@pytest.mark.parametrize("t", [0.05, 0.1, 0.3, 1.0, 5.0])
def test_soft_round_matches_formula(t):
    x = np.linspace(-4.3, 4.7, 901, dtype=np.float32)
    np.testing.assert_allclose(np.asarray(soft_round(x, t)), _soft_round_ref(x, t), atol=2e-6)


@pytest.mark.parametrize("t", [0.1, 0.2, 0.3, 1.0, 10.0])
def test_soft_round_inverse_roundtrip(t):
    x = np.random.default_rng(0).uniform(-5, 5, 2000).astype(np.float32)
    back = np.asarray(soft_round_inverse(soft_round(x, t), t), np.float64)
    # Near integers s_t is flat for small t (slope ~ 1e-3 at t = 0.1): a float32 rounding of s_t(x)
    # moves the inverse by ulp / slope, so the tolerance is scaled by the analytic slope.
    d = x - np.floor(x) - 0.5
    slope = (1 - np.tanh(d / t) ** 2) / (2 * t * np.tanh(1 / (2 * t)))
    assert np.all(np.abs(back - x) <= 1e-6 + 4 * np.finfo(np.float32).eps * (1 + np.abs(x)) / slope)
    y = np.random.default_rng(1).uniform(-5, 5, 2000).astype(np.float32)
    np.testing.assert_allclose(np.asarray(soft_round(soft_round_inverse(y, t), t)), y, atol=1e-5)


def test_soft_round_limits():
    x = np.random.default_rng(2).uniform(-5, 5, 5000).astype(np.float32)
    away = np.abs(x - np.floor(x) - 0.5) > 0.01  # rounding is discontinuous at half-integers
    for t in (1e-3, 1e-4, 0.0):
        np.testing.assert_allclose(np.asarray(soft_round(x, t))[away], np.round(x)[away], atol=1e-6)
    for t in (1e3, 1e6, np.inf):
        np.testing.assert_allclose(np.asarray(soft_round(x, t)), x, atol=1e-5)
        np.testing.assert_allclose(np.asarray(soft_round_inverse(x, t)), x, atol=1e-5)
        np.testing.assert_allclose(np.asarray(soft_round_conditional_mean(x, t)), x, atol=1e-5)
    # Small temperatures stay finite (no inf/nan from arctanh or 0/0), gradients too.
    for t in (0.0, 1e-6, 1e-4):
        assert np.isfinite(np.asarray(soft_round_inverse(x, t))).all()
        assert np.isfinite(np.asarray(soft_round_conditional_mean(x, t))).all()
        assert np.isfinite(np.asarray(jax.grad(lambda v: soft_round(v, t).sum())(jnp.asarray(x)))).all()


def test_conditional_mean_removes_noise_at_low_temperature():
    x = np.random.default_rng(3).uniform(-5, 5, 4000).astype(np.float32)
    u = np.random.default_rng(4).uniform(-0.45, 0.45, x.shape).astype(np.float32)
    t = 1e-3
    y = np.asarray(soft_round_conditional_mean(soft_round(x, t) + u, t))
    away = np.abs(x - np.floor(x) - 0.5) > 0.01
    np.testing.assert_allclose(y[away], np.round(x)[away], atol=10 * t)  # the posterior mean is O(t) off


# ----------------------------------------------------------------------------- Kumaraswamy


@pytest.mark.parametrize("a", [1.0, 1.3, 1.7, 2.0])
def test_kumaraswamy_samples_match_mean_and_cdf(a):
    b = float(kumaraswamy_b(a))
    u = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (200_000,)), np.float64)
    x = np.asarray(kumaraswamy_inv_cdf(jnp.asarray(u, jnp.float32), a, b), np.float64)
    assert x.min() >= 0 and x.max() <= 1
    mean = b * beta(1 + 1 / a, b)
    np.testing.assert_allclose(kumaraswamy_mean(a, b), mean)
    assert abs(x.mean() - mean) < 4 * x.std() / np.sqrt(x.size)
    grid = np.linspace(0.05, 0.95, 19)
    emp = (x[None, :] <= grid[:, None]).mean(axis=1)
    np.testing.assert_allclose(emp, 1 - (1 - grid**a) ** b, atol=5e-3)  # KS-scale: 1.36/sqrt(n) = 3e-3
    np.testing.assert_allclose(np.asarray(kumaraswamy_cdf(grid, a, b)), 1 - (1 - grid**a) ** b, rtol=1e-6)


@pytest.mark.parametrize("a", [1.2, 1.5, 2.0, 3.0])
def test_kumaraswamy_mode_is_one_half(a):
    b = float(kumaraswamy_b(a))
    xs = np.linspace(1e-4, 1 - 1e-4, 200_001)
    pdf = a * b * xs ** (a - 1) * (1 - xs**a) ** (b - 1)
    assert abs(xs[np.argmax(pdf)] - 0.5) < 1e-3
    assert abs(((a - 1) / (a * b - 1)) ** (1 / a) - 0.5) < 1e-12  # closed-form mode


def test_kumaraswamy_a1_is_uniform():
    assert float(kumaraswamy_b(1.0)) == 1.0
    u = jnp.linspace(0, 1, 101)
    np.testing.assert_allclose(np.asarray(kumaraswamy_inv_cdf(u, 1.0, 1.0)), np.asarray(u), atol=1e-7)
    n = np.asarray(kumaraswamy_noise(jax.random.PRNGKey(1), (100_000,), 1.0))
    assert -0.5 <= n.min() and n.max() <= 0.5
    assert abs(n.mean()) < 0.005 and abs(n.var() - 1 / 12) < 0.002
    # a = 2 is more concentrated around 0 than uniform noise
    assert np.asarray(kumaraswamy_noise(jax.random.PRNGKey(1), (100_000,), 2.0)).var() < 0.7 / 12


# ----------------------------------------------------------------------------- quantizers, recipe


def test_stage1_quantizer_anneals_and_stays_within_half_a_bin():
    q = SoftRoundNoise()
    assert np.isclose(float(q.temperature(0.0)), 0.3) and np.isclose(float(q.temperature(1.0)), 0.1)
    assert np.isclose(float(q.kumaraswamy_a(0.0)), 2.0) and np.isclose(float(q.kumaraswamy_a(0.5)), 1.5)
    y = [jnp.full((64, 64), 1.3), jnp.full((32, 32), -0.7)]
    q = jax.jit(q)  # one compile instead of eager op-by-op dispatch
    out = q(y, jax.random.PRNGKey(0), jnp.float32(0.5))
    assert [o.shape for o in out] == [g.shape for g in y]
    for g, o in zip(y, out):
        # r_T(s_T(y) + n) with |n| <= 1/2 lies in [y - 1/2, y + 1/2], since r_T(s_T(y) +- 1/2) = y +- 1/2
        assert np.all(np.abs(np.asarray(o) - np.asarray(g)) <= 0.5 + 1e-5)
        assert np.asarray(o).std() > 0.05  # and it is noisy
    # same key, same progress: same output (fit determinism); gradients are finite and non-zero
    again = q(y, jax.random.PRNGKey(0), jnp.float32(0.5))
    np.testing.assert_array_equal(np.asarray(out[0]), np.asarray(again[0]))
    g = jax.jit(jax.grad(lambda v: sum(o.sum() for o in q(v, jax.random.PRNGKey(0), 0.5))))(y)
    assert all(np.isfinite(np.asarray(x)).all() and np.abs(np.asarray(x)).sum() > 0 for x in g)


def test_stage2_forward_is_round_and_gradient_is_soft_round():
    x = jnp.asarray(np.random.default_rng(5).uniform(-3, 3, 500).astype(np.float32))
    q = SoftRoundSTE(1e-4)
    np.testing.assert_array_equal(np.asarray(q([x], None, 0.0)[0]), np.asarray(jnp.round(x)))
    for t in (1e-4, 0.3):  # the soft-round temperature only shapes the backward pass
        g = jax.grad(lambda v: (SoftRoundSTE(t)([v], None, 0.0)[0] * jnp.arange(500.0)).sum())(x)
        want = jax.grad(lambda v: (soft_round(v, t) * jnp.arange(500.0)).sum())(x)
        np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=1e-6)
    # near a half-integer the T = 1e-4 gradient is ~ 1 / (2T); away from it, ~0
    g = jax.grad(lambda v: q([v], None, 0.0)[0].sum())(jnp.asarray([0.5, 0.2]))
    np.testing.assert_allclose(np.asarray(g), [5000.0, 0.0], rtol=1e-4)


def test_c3_recipe_values():
    assert RECIPES["c3"] is c3_recipe
    r = get_recipe("c3", 110_000)
    s1, s2 = r.stages
    assert (s1.steps, s2.steps, r.steps) == (100_000, 10_000, 110_000)  # C3's Kodak budget
    assert s1.optimizer == s2.optimizer == Adam(0.1)
    assert np.isclose(float(s1.learning_rate(0.0)), 1e-2) and float(s1.learning_rate(1.0)) < 1e-9
    assert np.isclose(float(s2.learning_rate(0.7)), 1e-4)
    assert s2.keep_best and (s2.plateau_factor, s2.plateau_patience) == (0.8, 20) and not s1.keep_best
    assert isinstance(s1.quantize, SoftRoundNoise) and s2.quantize == SoftRoundSTE(1e-4)
    # Stages are values: equal recipes hash equal, so compiled chunk functions are reused.
    assert hash(get_recipe("c3", 60)) == hash(c3_recipe(60)) and get_recipe("c3", 60) == c3_recipe(60)
    assert [s.steps for s in c3_recipe(60).stages] == [55, 5]
    assert [s.steps for s in c3_recipe(1).stages] == [1]
    with pytest.raises(ValueError):
        c3_recipe(0)


@pytest.fixture(scope="module")
def crop(kodak_crop):
    return kodak_crop(1, 32, 32)


def test_short_c3_fit_lowers_the_loss(crop):
    from coolchic.fitting.candidates import fit
    from coolchic.fitting.result import evaluate
    from coolchic.model.image import init_params

    lmbda = 1e-3
    r = fit(crop, SMALL, get_recipe("c3", 60), lmbda, seed=0, progress=False, chunk=20)
    assert r.steps == 60 and len(r.history) >= 2
    losses = [h[1] for h in r.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    # Rounded-latent RD cost of the result beats that of the initial parameters.
    k_init, _ = jax.random.split(jax.random.PRNGKey(0))
    before = evaluate(init_params(k_init, SMALL, 32, 32), SMALL, crop)
    after = evaluate(r.params, SMALL, crop)
    rd = lambda e: e["mse"] + lmbda * e["bpp_latents"]
    assert rd(after) < rd(before)


def test_adaptive_search_keeps_the_minimum_over_architectures_and_seeds():
    from c3 import fit_adaptive
    from coolchic.config import ModelConfig, causal_context
    from coolchic.fitting.recipes import get_recipe

    x = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    archs = (
        ModelConfig(n_grids=3, context=causal_context(3), arm_hidden=(4,), synth_hidden=(4,)),
        ModelConfig(n_grids=3, context=causal_context(5), arm_hidden=(4,), synth_hidden=(6,)),
    )
    res = fit_adaptive(x, get_recipe("c3", 12), 1e-2, architectures=archs, seeds=(0, 1))
    assert len(res.candidates) == 4
    best = min(c["rd_cost"] for c in res.candidates)
    assert res.best.candidates[res.best.chosen]["rd_cost"] == best
