"""Cool-chic 5's recipe: its budget split, quantizers, warm-up pruning, and a short fit."""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coolchic.config import ModelConfig, causal_context
from coolchic.fitting import RECIPES, fit, get_recipe
from coolchic.fitting.coolchic5 import (
    HardRound,
    SoftRoundGaussian,
    coolchic5_recipe,
    warmup_noise,
    warmup_steps,
)
from coolchic.fitting.optimizers import Soap
from coolchic.fitting.recipes import coolchic_recipe
from coolchic.fitting.result import evaluate

SMALL = ModelConfig(n_grids=3, context=causal_context(5), arm_hidden=(8,), synth_hidden=(8,))


@pytest.mark.parametrize("n_itr, w", [(2000, 50), (3999, 50), (4000, 100), (10000, 200), (12000, 400)])
def test_budget_is_cool_chics_iteration_count(n_itr, w):
    r = coolchic5_recipe(n_itr)
    assert warmup_steps(n_itr) == w
    assert [s.steps for s in r.stages] == [w, w, n_itr - 500 - 7 * w, 500]
    assert r.candidates == 5 and r.prune == ((w, 2), (2 * w, 1))
    assert r.total_steps == n_itr  # 5 w + 2 w + main + final
    assert r.steps == n_itr - 5 * w


def test_phases_and_lambda_dependent_warmup_noise():
    r = get_recipe("coolchic5", 10000, lmbda=1e-4)
    warm, main, final = r.stages[0], r.stages[2], r.stages[3]
    assert warmup_noise(1e-3) == pytest.approx(0.2043) and warmup_noise(1e-4) == pytest.approx(0.2475)
    assert warm.quantize == SoftRoundGaussian(0.35, 0.35, warmup_noise(1e-4), warmup_noise(1e-4))
    assert main.quantize == SoftRoundGaussian(0.35, 0.08, 0.22, 0.15) and isinstance(final.quantize, HardRound)
    assert warm.optimizer == Soap(betas_latents=(0.725, 0.97), precondition_frequency=1)
    assert main.optimizer == final.optimizer == Soap()
    assert not any(s.carry_opt_state for s in r.stages) and final.keep_best and main.keep_best
    assert main.validate_every == 100 and not final.validate_every  # final: its loss is the hard-rounded one
    lr = lambda stage, progress: float(stage.learning_rate(progress))
    assert lr(main, 0.0) == pytest.approx(1e-2) and lr(main, 1.0) == pytest.approx(1e-5)
    assert lr(final, 0.0) == pytest.approx(1e-4) and lr(warm, 0.7) == pytest.approx(1e-2)
    assert RECIPES["coolchic5"] is coolchic5_recipe and get_recipe("coolchic5", 10000) == coolchic5_recipe(10000)


@pytest.mark.parametrize("bad", [dict(steps=1999), dict(steps=5000, lmbda=0.0)])
def test_too_small_a_budget_or_a_bad_lambda_is_refused(bad):
    with pytest.raises(ValueError):
        coolchic5_recipe(**bad)


def test_hard_round_passes_no_gradient_to_the_latents():
    y = [jnp.asarray([[-1.6, 0.4], [2.5001, 0.49]])]
    np.testing.assert_array_equal(np.asarray(HardRound()(y, jax.random.PRNGKey(0), 0.5)[0]), [[-2, 0], [3, 0]])
    g = jax.grad(lambda z: jnp.sum(HardRound()([z], None, 0.0)[0] * 3.0))(y[0])
    assert np.all(np.asarray(g) == 0)


def test_soft_round_gaussian_limits_and_noise_level():
    y = jax.random.uniform(jax.random.PRNGKey(1), (200, 200), minval=-4, maxval=4)
    key = jax.random.PRNGKey(2)
    # Tiny temperature and no noise: rounding.
    q = SoftRoundGaussian(1e-4, 1e-4, 0.0, 0.0)([y], key, 0.0)[0]
    away = np.abs(np.asarray(y) - np.floor(np.asarray(y)) - 0.5) > 1e-2
    np.testing.assert_allclose(np.asarray(q)[away], np.round(np.asarray(y))[away], atol=1e-5)
    # Huge temperature (identity soft-rounding): y + sigma n, sigma linear in the progress.
    quant = SoftRoundGaussian(1e4, 1e4, 0.1, 0.3)
    for progress, sigma in ((0.0, 0.1), (0.5, 0.2), (1.0, 0.3)):
        n = np.asarray(quant([y], key, progress)[0] - y)
        assert abs(n.mean()) < 0.01 and n.std() == pytest.approx(sigma, rel=0.03)
    np.testing.assert_array_equal(np.asarray(quant([y], key, 0.3)[0]), np.asarray(quant([y], key, 0.3)[0]))


def test_several_pruning_rounds_keep_the_best_and_follow_unpruned_paths(kodak_crop):
    crop = kodak_crop(1, 16, 16)
    recipe = coolchic_recipe(30)
    r = fit(crop, SMALL, recipe, 1e-3, seeds=[0, 1, 2], prune=((10, 2), (20, 1)), progress=False, chunk=10)
    at = {c["seed"]: c.get("pruned_at") for c in r.candidates}
    assert Counter(at.values()) == {10: 1, 20: 1, None: 1}
    (winner,) = [s for s, a in at.items() if a is None]
    alone = fit(crop, SMALL, recipe, 1e-3, seed=winner, progress=False, chunk=10)
    assert r.candidates[r.chosen]["rd_cost"] == pytest.approx(alone.candidates[0]["rd_cost"], rel=1e-6)
    with pytest.raises(ValueError, match="prune after 10 steps"):
        fit(crop, SMALL, recipe, 1e-3, seeds=[0, 1, 2], prune=((20, 2), (10, 1)), progress=False)
    with pytest.raises(ValueError, match="keep"):
        fit(crop, SMALL, recipe, 1e-3, seeds=[0, 1, 2], prune=((10, 2), (20, 2)), progress=False)


def test_a_coolchic5_fit_warms_up_five_candidates_and_beats_the_initial_model(kodak_crop):
    crop = kodak_crop(1, 16, 16)
    lmbda = 1e-3
    r = fit(crop, SMALL, get_recipe("coolchic5", 2000, lmbda), lmbda, seed=7, progress=False)
    assert [c["seed"] for c in r.candidates] == [7, 8, 9, 10, 11]
    assert Counter(c.get("pruned_at") for c in r.candidates) == {50: 3, 100: 1, None: 1}
    assert r.steps == 2000 - 5 * 50 and np.isfinite([h[1] for h in r.history]).all()
    from coolchic.model.image import init_params

    k_init, _ = jax.random.split(jax.random.PRNGKey(r.candidates[r.chosen]["seed"]))
    rd = lambda e: e["mse"] + lmbda * e["bpp_latents"]
    assert rd(evaluate(r.params, SMALL, crop)) < 0.5 * rd(evaluate(init_params(k_init, SMALL, 16, 16), SMALL, crop))


def test_validations_judge_the_best_by_the_hard_rounded_loss(kodak_crop):
    """With validate_every, "best" is one of the validated states (steps 0, k, 2k, ... and the
    last), judged by the hard-rounded loss, not the training loss of every step."""
    import dataclasses

    from coolchic.fitting.recipes import Recipe, Stage, constant_lr

    crop = kodak_crop(3, 16, 16)
    noisy = SoftRoundGaussian(0.3, 0.3, 0.3, 0.3)
    stage = Stage("s", 23, noisy, constant_lr(5e-2), Soap(), keep_best=True, validate_every=10)
    r = fit(crop, SMALL, Recipe("v", (stage,)), 1e-3, seed=3, progress=False, chunk=23)
    hard = lambda p: (lambda e: e["mse"] + 1e-3 * e["bpp_latents"])(evaluate(p, SMALL, crop))
    states = {}
    for n in (0, 10, 20, 22):  # the validated states: parameters after n steps
        if n == 0:
            from coolchic.model.image import init_params

            k_init, _ = jax.random.split(jax.random.PRNGKey(3))
            states[n] = init_params(k_init, SMALL, 16, 16)
        else:
            plain = dataclasses.replace(stage, steps=n, keep_best=False, validate_every=0)
            states[n] = fit(crop, SMALL, Recipe("v", (plain,)), 1e-3, seed=3, progress=False, chunk=n).params
    best = min(states, key=lambda n: hard(states[n]))
    assert hard(r.params) == pytest.approx(hard(states[best]), rel=1e-5)


def test_videos_refuse_the_image_only_schedule():
    from coolchic.api.video import fit_patches
    from coolchic.presets import get_preset

    patch = np.zeros((3, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match="image schedule"):
        fit_patches([patch], get_preset("video-fast").config, lmbda=1e-3, steps=2000, recipe="coolchic5")
