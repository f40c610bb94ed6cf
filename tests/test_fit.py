"""The fitting loop: RD trade-off, determinism, resume, compile-once."""

import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jaxpr_equations, leaves_close

import coolchic.fitting.candidates as candidates_module
import coolchic.fitting.loop as loop_module
import coolchic.fitting.step as step_module
from coolchic.config import ModelConfig, causal_context
from coolchic.fitting.candidates import fit, fit_batch
from coolchic.fitting.checkpoints import checkpoint_meta, load_checkpoint, save_checkpoint
from coolchic.fitting.recipes import coolchic_recipe
from coolchic.fitting.result import evaluate
from coolchic.fitting.step import chunk_fn

# A small architecture shared by the tests in this module, so compiled steps are reused.
SMALL = ModelConfig(n_grids=4, context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8,))


@pytest.fixture(scope="module")
def crop(kodak_crop):
    return kodak_crop(1, 32, 32)


def test_higher_lambda_gives_lower_rate(crop):
    bpp = {}
    for lm in (1e-4, 3e-2):
        r = fit(crop, SMALL, coolchic_recipe(150), lm, seed=0, progress=False, chunk=50)
        bpp[lm] = evaluate(r.params, SMALL, crop)["bpp_latents"]
    assert bpp[3e-2] < bpp[1e-4]


def test_fit_improves_psnr_and_is_deterministic(crop):
    recipe = coolchic_recipe(60)
    a = fit(crop, SMALL, recipe, 1e-3, seed=3, progress=False, chunk=20)
    b = fit(crop, SMALL, recipe, 1e-3, seed=3, progress=False, chunk=30)  # other chunking, same path
    leaves_close(a.params, b.params, atol=1e-5)
    assert a.history[-1][1] < a.history[0][1]  # loss went down


@pytest.mark.parametrize("stop", [25, 54])  # inside stage 1, and exactly at the stage boundary
def test_resume_equals_uninterrupted(crop, tmp_path, stop):
    recipe = coolchic_recipe(60)  # 54 noise steps + 6 STE steps
    full = fit(crop, SMALL, recipe, 1e-3, seed=1, progress=False, chunk=10)
    ckpt = str(tmp_path / "ckpt")
    part = fit(crop, SMALL, recipe, 1e-3, seed=1, progress=False, chunk=10, checkpoint_dir=ckpt, stop_after=stop)
    assert part.steps == stop
    resumed = fit(crop, SMALL, recipe, 1e-3, seed=1, progress=False, chunk=10, checkpoint_dir=ckpt)
    assert resumed.steps == 60
    leaves_close(resumed.params, full.params, atol=1e-5)


def test_checkpoint_of_another_fit_is_refused(crop, tmp_path):
    ckpt = str(tmp_path / "ckpt")
    fit(crop, SMALL, coolchic_recipe(20), 1e-3, progress=False, chunk=10, checkpoint_dir=ckpt, stop_after=10)
    with pytest.raises(ValueError, match="different fit"):
        fit(crop, SMALL, coolchic_recipe(20), 2e-3, progress=False, chunk=10, checkpoint_dir=ckpt)


def test_checkpoints_saved_from_threads_at_once(tmp_path):
    # Candidate threads save their checkpoints concurrently; unserialised, orbax mixes up their completion
    # signals (fails or hangs within a few saves). Daemon threads, so a hang fails the test instead of blocking.
    state = {"w": jnp.ones((8, 12)), "b": jnp.arange(5.0)}  # jax arrays: orbax's async path
    errors = []

    def saves(k):
        try:
            for i in range(5):
                save_checkpoint(str(tmp_path / f"seed{k}"), 0, {**state, "b": state["b"] + i}, {"seed": k})
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=saves, args=(k,), daemon=True) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    for k in range(3):
        back = load_checkpoint(str(tmp_path / f"seed{k}"), state)
        np.testing.assert_array_equal(back["b"], state["b"] + 4)
        assert checkpoint_meta(str(tmp_path / f"seed{k}"))["seed"] == k


def test_threads_share_one_jitted_step(monkeypatch):
    # Candidate threads asking for the same step at once get one jitted function (one compile);
    # a slow construction widens the window in which both would otherwise make their own.
    real = step_module.make_step
    monkeypatch.setattr(step_module, "make_step", lambda *a, **k: time.sleep(0.2) or real(*a, **k))
    config = ModelConfig(n_grids=3, context=causal_context(3), arm_hidden=(4,), synth_hidden=(4,))
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(chunk_fn(config, coolchic_recipe(9).stages, "map")))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] is got[1]


def test_step_is_compiled_once_across_chunks(crop):
    recipe = coolchic_recipe(40)
    run = chunk_fn(SMALL, recipe.stages, "map")  # one executable for both stages and every budget
    assert chunk_fn(SMALL, coolchic_recipe(70).stages, "map") is run
    fit(crop, SMALL, recipe, 1e-3, progress=False, chunk=7)  # chunks of 7 and a shorter last one
    size = run._cache_size()
    fit(crop, SMALL, recipe, 5e-3, progress=False, chunk=13)  # another lambda: still no recompile
    fit(crop, SMALL, coolchic_recipe(70), 1e-3, progress=False, chunk=30)  # another budget: same
    assert run._cache_size() == size


def test_switched_step_follows_each_stages_bookkeeping(crop):
    """One step function serves every stage: the stage index picks keep-best, plateau drop and
    reset-to-best (C3's stage 2) or none of them (stage 1)."""
    from coolchic.fitting.recipes import get_recipe
    from coolchic.fitting.step import init_state, make_step
    from coolchic.model.image import init_params

    stages = get_recipe("c3", 20).stages
    s2 = stages[1]
    assert s2.keep_best and s2.reset_on_plateau and s2.plateau_patience > 0 and stages[0].plateau_patience == 0
    step = jax.jit(make_step(SMALL, stages))
    start = init_state(init_params(jax.random.PRNGKey(0), SMALL, *crop.shape[1:]), s2, jax.random.PRNGKey(1))
    best = jax.tree.map(lambda a: a + 1.0, start.params)  # distinguishable from the current params
    stuck = start.replace(
        best_params=best, best_loss=jnp.float32(-jnp.inf), since_best=jnp.int32(s2.plateau_patience - 1)
    )
    # Stage 2, no improvement for `patience` steps: lr drops, parameters go back to the best ones.
    out = step(stuck, crop, 1e-3, 20, 1)
    assert float(out.lr_scale) == pytest.approx(s2.plateau_factor) and int(out.since_best) == 0
    leaves_close(out.params, best, atol=0)
    # Stage 1, same state: no plateau logic, the parameters move on.
    out = step(stuck, crop, 1e-3, 20, 0)
    assert float(out.lr_scale) == 1.0 and int(out.since_best) == s2.plateau_patience
    assert not np.allclose(out.params["latents"][0], best["latents"][0])
    # Stage 2, an improvement: the parameters it was measured at become the best.
    out = step(start.replace(best_params=best), crop, 1e-3, 20, 1)
    leaves_close(out.best_params, start.params, atol=0)
    assert int(out.since_best) == 0


@pytest.mark.parametrize("batch", ["vmap", "map", "serial", "threads"])
def test_batched_candidates_match_single_fits_and_best_is_chosen(crop, batch):
    """Separate fits (serial, or concurrent threads) equal single fits bit for bit."""
    recipe = coolchic_recipe(30)
    together = fit(crop, SMALL, recipe, 1e-3, seeds=[4, 5, 6], progress=False, chunk=15, batch=batch)
    costs = [c["rd_cost"] for c in together.candidates]
    assert len(costs) == 3 and together.candidates[together.chosen]["rd_cost"] == min(costs)
    alone = fit(crop, SMALL, recipe, 1e-3, seed=[4, 5, 6][together.chosen], progress=False, chunk=15)
    leaves_close(together.params, alone.params, atol=0 if batch in ("serial", "threads") else 1e-4)


def test_early_pruning_keeps_the_best_and_follows_the_unpruned_path(crop):
    """prune=(after, keep): all seeds fitted `after` steps, the `keep` best RD costs at that
    point go on, resumed so that each equals its own unpruned fit; the best of those is chosen."""
    recipe = coolchic_recipe(30)
    r = fit(crop, SMALL, recipe, 1e-3, seeds=[4, 5, 6], prune=(10, 2), progress=False, chunk=15)
    pruned = [c for c in r.candidates if "pruned_at" in c]
    kept = [c for c in r.candidates if "pruned_at" not in c]
    assert [c["seed"] for c in r.candidates] == [4, 5, 6] and len(pruned) == 1 and len(kept) == 2
    assert pruned[0]["pruned_at"] == 10 and r.steps == 30
    early = {s: fit(crop, SMALL, recipe, 1e-3, seed=s, progress=False, chunk=15, stop_after=10) for s in (4, 5, 6)}
    worst = max(early, key=lambda s: early[s].candidates[0]["rd_cost"])
    assert pruned[0]["seed"] == worst
    assert pruned[0]["rd_cost"] == pytest.approx(early[worst].candidates[0]["rd_cost"])
    chosen = r.candidates[r.chosen]
    assert "pruned_at" not in chosen and chosen["rd_cost"] == min(c["rd_cost"] for c in kept)
    alone = fit(crop, SMALL, recipe, 1e-3, seed=chosen["seed"], progress=False, chunk=15)
    leaves_close(r.params, alone.params, atol=1e-5)
    with pytest.raises(ValueError, match="keep"):
        fit(crop, SMALL, recipe, 1e-3, seeds=[4, 5], prune=(10, 2), progress=False)
    with pytest.raises(ValueError, match="serial"):
        fit(crop, SMALL, recipe, 1e-3, seeds=[4, 5], prune=(10, 1), progress=False, batch="vmap")


def _fit_seeds(seeds, prune=None):
    return lambda crop: fit(crop, SMALL, coolchic_recipe(30), 1e-3, seeds=seeds, prune=prune, progress=False)


@pytest.mark.parametrize(
    "backend, run, expected",
    [
        ("gpu", _fit_seeds([4, 5]), ["vmap"]),  # candidates in one vmapped loop: 0.35-0.59x serial on an H100
        ("gpu", _fit_seeds([4]), ["map"]),  # one candidate: the plain program of a single fit
        ("gpu", _fit_seeds([4, 5], (10, 1)), ["serial", "map", "map"]),  # early pruning needs separate fits
        ("cpu", _fit_seeds([4, 5]), ["threads", "map", "map"]),  # separate fits, concurrently
        (
            "gpu",
            lambda crop: fit_batch([crop, crop[:, ::-1]], SMALL, coolchic_recipe(30), 1e-3, progress=False),
            ["serial", "map", "map"],
        ),  # several images: separate fits (vmapped ones not yet timed on a GPU)
    ],
    ids=["gpu-seeds", "gpu-one-seed", "gpu-pruned", "cpu-seeds", "gpu-images"],
)
def test_default_batch_mode_per_backend(crop, monkeypatch, backend, run, expected):
    """Without `batch`, fit fits candidates as batch_mode says for the backend: the separate-fit
    mode and the compiled loop it asks for are recorded, and each loop stops before compiling."""
    asked = []

    def stop(config, stages, mode, per_candidate=False):
        asked.append(mode)
        raise InterruptedError

    def each(fn, items, batch):
        asked.append(batch)
        for item in items:
            with pytest.raises(InterruptedError):
                fn(item)
        raise InterruptedError

    monkeypatch.setattr(candidates_module.jax, "default_backend", lambda: backend)
    monkeypatch.setattr(loop_module, "chunk_fn", stop)  # where the loop looks it up
    monkeypatch.setattr(candidates_module, "_each", each)
    with pytest.raises(InterruptedError):
        run(crop)
    assert asked == expected


@pytest.mark.parametrize("batch", ["vmap", "threads"])
def test_fit_batch_fits_each_target_like_a_single_fit(crop, batch):
    """Several same-size images (or video patches) in one loop: each result is its own image's fit."""
    recipe = coolchic_recipe(30)
    other = np.ascontiguousarray(crop[:, ::-1, :])
    results = fit_batch([crop, other], SMALL, recipe, 1e-3, seed=4, progress=False, chunk=15, batch=batch)
    assert len(results) == 2
    for img, r in zip([crop, other], results):
        alone = fit(img, SMALL, recipe, 1e-3, seed=4, progress=False, chunk=15)
        leaves_close(r.params, alone.params, atol=1e-4)
        assert r.candidates[0]["psnr"] == pytest.approx(evaluate(r.params, SMALL, img)["psnr"])


def test_c3_recipe_stage2_resets_and_carries_state(crop):
    from coolchic.fitting.recipes import get_recipe

    recipe = get_recipe("c3", 44)
    assert recipe.stages[1].carry_opt_state and recipe.stages[1].reset_on_plateau
    r = fit(crop, SMALL, recipe, 1e-3, progress=False, chunk=20)
    assert np.isfinite(r.history[-1][1]) and r.steps == 44


def _image_sized_transposes(step, state, image, per: int) -> list:
    """Per-candidate sizes of the transposes that move data (not just unit axes) of arrays at
    least as large as the image, in one traced step."""
    h, w = image.shape[1:]
    jaxpr = jax.make_jaxpr(step)(state, image, 1e-3, 20, 1).jaxpr
    sizes = []
    for e in jaxpr_equations(jaxpr):
        aval = e.invars[0].aval if e.invars else None
        if e.primitive.name == "transpose" and aval.size >= per * h * w:
            kept = [a for a in e.params["permutation"] if aval.shape[a] > 1]
            if kept != sorted(kept):
                sizes.append(aval.size // per)
    return sorted(sizes)


@pytest.mark.parametrize("recipe", ["coolchic", "c3"])
def test_vmapped_step_adds_no_copies(crop, recipe):
    """Candidates fitted together under vmap must not pay per-step copies that a single fit does
    not: no gather or scatter, and exactly the image-sized transposes of one candidate (each of
    these once made vmapped fits several times slower than serial ones); nor grouped convolutions."""
    from coolchic.fitting.recipes import get_recipe
    from coolchic.fitting.step import init_state, make_step, stack
    from coolchic.model.image import init_params

    stages = get_recipe(recipe, 20).stages
    step = make_step(SMALL, stages)  # the step of every stage: quantizer and lr picked by lax.switch
    params = [init_params(jax.random.PRNGKey(s), SMALL, *crop.shape[1:]) for s in range(3)]
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    one = init_state(params[0], stages[0], keys[0])
    many = jax.vmap(lambda p, k: init_state(p, stages[0], k))(stack(params), keys)
    vmapped = jax.vmap(step, in_axes=(0, None, None, None, None))
    prims = {e.primitive.name for e in jaxpr_equations(jax.make_jaxpr(vmapped)(many, crop, 1e-3, 20, 1).jaxpr)}
    assert not {p for p in prims if "gather" in p or "scatter" in p}
    assert "conv_general_dilated" not in prims  # grouped convolutions: slow gradients on GPUs
    assert _image_sized_transposes(vmapped, many, crop, 3) == _image_sized_transposes(step, one, crop, 1)


def test_one_at_a_time_equals_batched_and_batches_no_dot():
    """arrays.one_at_a_time under vmap: the values and gradients of plain vmap (for batched and
    shared arguments alike), while its program holds only unbatched matmuls (a lax.map)."""
    import jax.numpy as jnp

    from coolchic.model.arrays import one_at_a_time

    def f(wxb, y):
        w, x, b = wxb
        h = jnp.tanh(w @ x + b)
        return jnp.sum(h * y), h

    def loss(fn, w, x, b, y):  # w, x per candidate; b (differentiated) and y (data) shared
        s, h = jax.vmap(fn, in_axes=((0, 0, None), None))((w, x, b), y)
        return jnp.sum(s) + jnp.sum(h**2)

    k = jax.random.split(jax.random.PRNGKey(0), 4)
    shapes = [(3, 4, 5), (3, 5, 6), (4, 6), (4, 6)]
    args = [jax.random.normal(key, shape) for key, shape in zip(k, shapes)]
    grad = jax.value_and_grad(loss, argnums=(1, 2, 3))
    leaves_close(grad(one_at_a_time(f), *args), grad(f, *args), atol=1e-5)
    dots = [
        e
        for e in jaxpr_equations(jax.make_jaxpr(lambda *a: grad(one_at_a_time(f), *a))(*args).jaxpr)
        if e.primitive.name == "dot_general"
    ]
    assert len(dots) >= 3 and all(not e.params["dimension_numbers"][1][0] for e in dots)


def test_vmapped_step_with_one_by_one_loss_equals_batched_step(crop):
    """The CPU's vmapped step (loss one candidate at a time) follows the fully batched one."""
    from coolchic.fitting.recipes import get_recipe
    from coolchic.fitting.step import init_state, make_step, stack
    from coolchic.model.image import init_params

    stages = get_recipe("c3", 20).stages
    params = [init_params(jax.random.PRNGKey(s), SMALL, *crop.shape[1:]) for s in range(2)]
    state = jax.vmap(lambda p, k: init_state(p, stages[0], k))(
        stack(params), jax.random.split(jax.random.PRNGKey(0), 2)
    )
    out = []
    for one_by_one in (False, True):
        step = jax.jit(jax.vmap(make_step(SMALL, stages, one_by_one), in_axes=(0, None, None, None, None)))
        s = step(step(state, crop, 1e-3, 20, 0), crop, 1e-3, 20, 1)  # a step of each stage
        out.append((s.params, s.opt_state, s.loss))
    leaves_close(out[1], out[0], atol=1e-5)
