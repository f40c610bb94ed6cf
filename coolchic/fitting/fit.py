"""The one fitting loop: many optimisation steps per compiled call, resumable.

A fit runs the stages of a Recipe in order through one compiled chunk function
`(state, n_steps, image, lmbda, stage_length, stage_index) -> state` (a `fori_loop` with a traced
trip count and stage, so chunks of any length and every stage reuse the same executable);
per-step randomness is `fold_in(key, step)` and schedules are functions of the step, all on
device. Because a step depends only on (state, step), a fit that is checkpointed, interrupted and
resumed follows the same trajectory as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from coolchic.model.arrays import one_at_a_time
from coolchic.config import ModelConfig
from coolchic.model import model_for
from coolchic.fitting.quantizers import hard_round
from coolchic.fitting.recipes import Recipe, Stage


@flax.struct.dataclass
class FitState:
    params: Any
    opt_state: Any
    step: jnp.ndarray  # steps done in the current stage
    key: jnp.ndarray
    best_params: Any
    best_opt_state: Any
    best_loss: jnp.ndarray
    lr_scale: jnp.ndarray
    since_best: jnp.ndarray
    loss: jnp.ndarray  # metrics of the last step
    mse: jnp.ndarray
    bpp: jnp.ndarray


def _optimizer(clip_norm) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(clip_norm), optax.scale_by_adam())


def init_state(params, stage: Stage, key, opt_state=None) -> FitState:
    f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    # Fresh buffers for every leaf: the chunk function donates its state, and a buffer shared by
    # two leaves (or by params and best_params) cannot be donated twice.
    copy = lambda t: jax.tree.map(lambda a: jnp.array(a, dtype=a.dtype, copy=True), t)  # noqa: E731
    params = copy(params)
    opt_state = _optimizer(stage.clip_norm).init(params) if opt_state is None else copy(opt_state)
    return FitState(
        params=params,
        opt_state=opt_state,
        step=jnp.asarray(0, jnp.int32),
        key=key,
        best_params=copy(params),
        best_opt_state=copy(opt_state),
        best_loss=f32(jnp.inf),
        lr_scale=f32(1.0),
        since_best=jnp.asarray(0, jnp.int32),
        loss=f32(jnp.nan),
        mse=f32(jnp.nan),
        bpp=f32(jnp.nan),
    )


def loss_terms(params, latents, config: ModelConfig, image, lmbda, one_by_one: bool = False):
    """(loss, mse, bpp) for latents already passed through a quantizer; image is (C, H, W) or a
    video (C, T, H, W), bpp is per pixel (of all frames). one_by_one: vmapped candidates evaluate
    their networks one after the other (arrays.one_at_a_time; for XLA:CPU)."""
    rd = lambda pq, x: model_for(config).rd_terms(*pq, config, x)  # noqa: E731
    mse, bits = (one_at_a_time(rd) if one_by_one else rd)((params, latents), image)
    bpp = bits / image[0].size
    return mse + lmbda * bpp, mse, bpp


def _bookkeeping(stage: Stage):
    """The end of a step of `stage`: best parameters, plateau lr drops and resets, metrics."""

    def finish(state: FitState, params, opt_state, loss, mse, bpp) -> FitState:
        # Loss was measured at state.params: that is the candidate for "best".
        better = loss < state.best_loss
        pick = lambda cond, a, b: jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)  # noqa: E731
        best_params, best_opt = state.best_params, state.best_opt_state
        if stage.keep_best or stage.reset_on_plateau:
            best_params = pick(better, state.params, state.best_params)
        if stage.reset_on_plateau:
            best_opt = pick(better, state.opt_state, state.best_opt_state)
        since = jnp.where(better, 0, state.since_best + 1)
        lr_scale = state.lr_scale
        if stage.plateau_patience > 0:
            drop = since >= stage.plateau_patience
            lr_scale = jnp.where(drop, lr_scale * stage.plateau_factor, lr_scale)
            since = jnp.where(drop, 0, since)
            if stage.reset_on_plateau:  # C3: back to the best parameters and optimizer state
                params = pick(drop, best_params, params)
                opt_state = pick(drop, best_opt, opt_state)
        return FitState(
            params=params, opt_state=opt_state, step=state.step + 1, key=state.key,
            best_params=best_params, best_opt_state=best_opt, best_loss=jnp.minimum(loss, state.best_loss),
            lr_scale=lr_scale, since_best=since, loss=loss, mse=mse, bpp=bpp,
        )

    return finish


def _make_step(config: ModelConfig, stages: tuple[Stage, ...], one_by_one: bool = False):
    """One optimisation step for any stage of a recipe: the stage index is traced, so a recipe
    compiles once (not once per stage). lax.switch picks the stage's quantizer, learning rate and
    bookkeeping (keep-best, plateau), each branch written with that stage's flags as constants
    (a table lookup gives its clip norm):
    one compile instead of two for the two-stage recipes (c3-kodak on 256x256: 9.4-10.4 s vs
    7.3-8.1 s per stage), the same time per step."""

    def chosen(fns):  # (si, *args) -> fns[si](*args)
        if len(fns) == 1:
            return lambda si, *a: fns[0](*a)
        return lambda si, *a: jax.lax.switch(si, fns, *a)

    quantize = chosen([s.quantize for s in stages])
    learning_rate = chosen([s.learning_rate for s in stages])
    clip_norms = jnp.asarray([s.clip_norm for s in stages], jnp.float32)
    bookkeeping = chosen([_bookkeeping(s) for s in stages])

    def objective(params, si, key, progress, image, lmbda):
        q = quantize(si, config.scale_latents(params["latents"]), key, progress)
        loss, mse, bpp = loss_terms(params, q, config, image, lmbda, one_by_one)
        return loss, (mse, bpp)

    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def step(state: FitState, image, lmbda, total, si) -> FitState:
        progress = state.step.astype(jnp.float32) / jnp.maximum(total, 1).astype(jnp.float32)
        key = jax.random.fold_in(state.key, state.step)
        (loss, (mse, bpp)), grads = grad_fn(state.params, si, key, progress, image, lmbda)
        updates, opt_state = _optimizer(clip_norms[si]).update(grads, state.opt_state, state.params)
        lr = learning_rate(si, progress) * state.lr_scale
        params = optax.apply_updates(state.params, jax.tree.map(lambda u: -lr * u, updates))
        return bookkeeping(si, state, params, opt_state, loss, mse, bpp)

    return step


_CHUNK_CACHE: dict = {}
_JIT_LOCK = threading.Lock()


def _cached(cache: dict, key, make):
    """cache[key], made on first use. Under a lock: candidate threads asking at once share one
    jitted function (with one each, both compiled the same program)."""
    with _JIT_LOCK:
        if key not in cache:
            cache[key] = make()
        return cache[key]


def batch_mode(separate: bool = False) -> str:
    """How several candidates are fitted by default: "threads" on a CPU (separate fits run
    concurrently, see SEPARATE); elsewhere "vmap" (one compiled loop for all), or "serial" (one
    fit after the other) with `separate` (early pruning needs separate fits; same-size images
    fitted together are not yet timed vmapped on a GPU). All four modes stay selectable.
    benchmarks/rd_budget.py candidates, 4 seeds of a c3-kodak fit, wall time over 4 serial fits:
    2-core CPU, 256x256, 200 steps (results/candidates.json): threads 0.60-0.81x, vmap 0.93-1.14x,
    lax.map 0.88-1.32x over runs on a machine whose speed drifts (the same 4 serial fits: 20.3 and
    28.4 s in one run); per step in steady state, 4 vmapped candidates 99-103 ms against 4 x 24 ms
    serial (1.02-1.06x); 512x512, 100 steps (results/candidates_512.json): threads 0.82x, vmap
    1.08-1.18x, lax.map 1.19x. The small ops of one fit leave a core idle part of the time, which a
    second fit fills.
    A vmapped step on a CPU evaluates the candidates' networks one after the other
    (arrays.one_at_a_time): XLA:CPU ran them batched (batched matmuls, grouped convolutions)
    1.3-1.4x slower than separately, which made vmap 1.28-1.35x.
    H100, 1000 steps (benchmarks/gpu_check.sh, results/gpu/candidates_h100*.json): vmap 0.35x
    (256x256: 1.5 s against 4.4 s serial) and 0.59x (512x512: 4.5 s against 7.6 s), lax.map 1.38x.
    Before the synthesis convolutions ran as batched matmuls under vmap (arrays.vmapped_as), they
    were grouped convolutions there, whose gradients XLA:GPU computes slowly (jax-ml/jax#13800),
    and vmap took 3.8-4.1x the serial time (results/gpu/candidates_h100_grouped_convs*.json)."""
    if jax.default_backend() == "cpu":
        return "threads"
    return "serial" if separate else "vmap"


# Batch modes in which every candidate is its own fit (its own compiled loop, its own result, the
# same as a fit of that seed alone); "threads" runs them concurrently, at most one per core.
SEPARATE = ("serial", "threads")


def _each(fn, items: list, batch: str) -> tuple[list, float]:
    """([fn(item) for item in items], wall seconds), concurrently when batch == "threads"."""
    t0 = time.perf_counter()
    if batch == "threads" and len(items) > 1:
        from coolchic.fitting.threads import map_concurrently

        out = map_concurrently(fn, items, os.cpu_count() or 1)
    else:
        out = [fn(item) for item in items]
    return out, time.perf_counter() - t0


def chunk_fn(config: ModelConfig, stages: tuple[Stage, ...], mode: str = "map", per_candidate: bool = False):
    """Compiled `(state, n, image, lmbda, total, stage_index) -> state` running n steps of every
    candidate in stage `stages[stage_index]`.

    The state carries a leading candidate axis; candidates (e.g. seeds) are fitted together in
    one loop, batched with `jax.vmap` (mode "vmap"; on a CPU with the networks run one candidate
    at a time inside it, see batch_mode) or `lax.map` (mode "map", which over one candidate is the
    plain program of a single fit). per_candidate: `image` has
    the candidate axis too (several same-shape images or video patches fitted together).
    `total` (the stage length, on which schedules depend) and the stage index are traced, so one
    executable serves every stage and step budget of a recipe: cached per (config, stages without
    their lengths, mode, per_candidate).
    """
    stages = tuple(dataclasses.replace(s, steps=0) for s in stages)
    key = (config, stages, mode, per_candidate)

    def make():
        one = _make_step(config, stages, one_by_one=mode == "vmap" and jax.default_backend() == "cpu")
        if mode == "vmap":
            step = jax.vmap(one, in_axes=(0, 0 if per_candidate else None, None, None, None))
        elif per_candidate:
            def step(state, image, lmbda, total, si):
                return jax.lax.map(lambda s_im: one(s_im[0], s_im[1], lmbda, total, si), (state, image))
        else:
            def step(state, image, lmbda, total, si):
                return jax.lax.map(lambda s: one(s, image, lmbda, total, si), state)

        def run(state, n, image, lmbda, total, si):
            return jax.lax.fori_loop(0, n, lambda i, s: step(s, image, lmbda, total, si), state)

        return jax.jit(run, donate_argnums=0)

    return _cached(_CHUNK_CACHE, key, make)


@dataclasses.dataclass
class FitResult:
    params: dict  # the chosen candidate's parameters
    config: ModelConfig
    lmbda: float
    steps: int
    seconds: float
    history: list  # (global_step, loss, mse, bpp) of the best candidate at chunk ends
    candidates: list = dataclasses.field(default_factory=list)  # per seed: {"seed", "rd_cost", ...}
    chosen: int = 0


# ----------------------------------------------------------------------------- checkpoints


def _ckpt_paths(directory: str):
    return os.path.join(directory, "state"), os.path.join(directory, "meta.json")


# Orbax keys its completion signals per process, not per checkpointer: concurrent saves from the candidate
# threads (batch="threads") can hang or fail. One save or restore at a time.
_ORBAX_LOCK = threading.Lock()


def save_checkpoint(directory: str, stage_index: int, state: FitState, meta: dict) -> None:
    import orbax.checkpoint as ocp

    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    state_path, meta_path = _ckpt_paths(directory)
    with _ORBAX_LOCK, ocp.StandardCheckpointer() as ckpt:
        ckpt.save(state_path + ".tmp", state, force=True)
        ckpt.wait_until_finished()
    if os.path.exists(state_path):
        import shutil

        shutil.rmtree(state_path)
    os.replace(state_path + ".tmp", state_path)
    tmp = meta_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({**meta, "stage_index": stage_index}, f)
    os.replace(tmp, meta_path)


def load_checkpoint(directory: str, target: FitState) -> FitState:
    import orbax.checkpoint as ocp

    state_path, _ = _ckpt_paths(os.path.abspath(directory))
    with _ORBAX_LOCK, ocp.StandardCheckpointer() as ckpt:
        return ckpt.restore(state_path, target)


def checkpoint_meta(directory: str) -> dict | None:
    _, meta_path = _ckpt_paths(os.path.abspath(directory))
    if not os.path.exists(meta_path):
        return None
    with open(meta_path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------- the loop


def _stack(trees: list):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _unstack(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


def fit(
    image: np.ndarray,
    config: ModelConfig,
    recipe: Recipe,
    lmbda: float,
    seed: int = 0,
    *,
    seeds: list[int] | None = None,
    chunk: int = 100,
    checkpoint_dir: str | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    params: dict | None = None,
    batch: str | None = None,
    prune: tuple[int, int] | None = None,
    _batched: bool = False,
) -> FitResult:
    """Fit the model to one image (C, H, W) in [0, 1].

    seeds: fit one candidate per seed (as `batch` says) and return the one with the lowest RD
        cost (MSE + lambda * latent bpp, latents hard-rounded).
    checkpoint_dir: the state is saved there at every chunk end, and a fit started with a
        directory that holds a checkpoint of the same problem resumes from it.
    stop_after: stop (after checkpointing) once this many steps are done in total — used to
        simulate an interruption.
    batch: how several seeds are fitted: "vmap", "map" (both one compiled loop), "serial" or
        "threads" (separate fits, one after the other or concurrently); default batch_mode(). One
        candidate is always fitted alone, as a lax.map over one.
    prune: (after, keep) — early pruning of candidates, as Cool-chic's restarts: every seed is
        fitted for `after` steps, the `keep` lowest RD costs go on to the end (resumed from their
        checkpoints, so they follow exactly their unpruned paths). Separate fits only.
    """
    batch = batch or batch_mode(separate=prune is not None or _batched)
    if prune is not None:
        return _fit_pruned(image, config, recipe, lmbda, list(seeds or [seed]), *prune, batch=batch, chunk=chunk,
                           checkpoint_dir=checkpoint_dir, progress=progress, params=params)
    if _batched:
        if seeds or params is not None or checkpoint_dir or stop_after is not None:
            raise ValueError("fit_batch takes one seed and no checkpoint, stop_after or initial params")
        if batch in SEPARATE:
            return _each(lambda im: fit(im, config, recipe, lmbda, seed, chunk=chunk, progress=progress), list(image),
                         batch)[0]
    if seeds and len(seeds) > 1 and batch in SEPARATE:
        runs, seconds = _each(lambda s: fit(
            image, config, recipe, lmbda, s, chunk=chunk, progress=progress, params=params, stop_after=stop_after,
            checkpoint_dir=checkpoint_dir and os.path.join(checkpoint_dir, f"seed{s}")), list(seeds), batch)
        chosen = int(np.argmin([r.candidates[0]["rd_cost"] for r in runs]))
        return dataclasses.replace(runs[chosen], candidates=[r.candidates[0] for r in runs], chosen=chosen,
                                   seconds=seconds)
    image = jnp.asarray(image, jnp.float32)
    c, *dims = image.shape[1:] if _batched else image.shape
    model = model_for(config)
    if len(dims) != model.n_dims:
        raise ValueError(f"expected a {'video (C, T, H, W)' if config.is_video else 'image (C, H, W)'}, got shape {image.shape}")
    if c != config.out_channels:
        raise ValueError(f"image has {c} channels, config expects {config.out_channels}")
    seeds = [seed] * image.shape[0] if _batched else (list(seeds) if seeds else [seed])
    roots = [jax.random.split(jax.random.PRNGKey(s)) for s in seeds]
    if params is None:
        params = _stack([model.init_params(k_init, config, *dims) for k_init, _ in roots])
    else:
        params = _stack([params] * len(seeds))
    fit_keys = [k_fit for _, k_fit in roots]
    meta = {"config": config.to_dict(), "recipe": recipe.name, "steps": recipe.steps, "lmbda": lmbda,
            "seeds": seeds, "shape": [c, *dims], "image_sum": float(np.asarray(image, np.float64).sum())}

    start_stage, resume = 0, False
    if checkpoint_dir and (saved := checkpoint_meta(checkpoint_dir)) is not None:
        if {k: saved.get(k) for k in meta} != meta:
            raise ValueError(f"checkpoint in {checkpoint_dir} is for a different fit; use another directory")
        start_stage, resume = saved["stage_index"], True

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.steps, unit="step", dynamic_ncols=True, leave=False)
    history, t0 = [], time.perf_counter()
    done_before = sum(s.steps for s in recipe.stages[:start_stage])  # steps of completed stages
    lm = jnp.float32(lmbda)
    state = None
    interrupted = False
    together = batch not in SEPARATE and len(seeds) > 1
    run = chunk_fn(config, recipe.stages, batch if together else "map", per_candidate=_batched)
    for si in range(start_stage, len(recipe.stages)):
        stage = recipe.stages[si]
        carried, opt = params, None
        if state is not None:
            carried = state.best_params if recipe.stages[si - 1].keep_best else state.params
            opt = state.opt_state if stage.carry_opt_state else None
        keys = jnp.stack([jax.random.fold_in(k, si) for k in fit_keys])
        state = jax.vmap(lambda p, k, o: init_state(p, stage, k, o), in_axes=(0, 0, None if opt is None else 0))(
            carried, keys, opt)
        if resume:
            state, resume = load_checkpoint(checkpoint_dir, state), False
        if bar is not None:
            bar.n = done_before + int(state.step[0])
            bar.refresh()
        while int(state.step[0]) < stage.steps:
            n = min(chunk, stage.steps - int(state.step[0]))
            if stop_after is not None:
                n = min(n, stop_after - (done_before + int(state.step[0])))
                if n <= 0:
                    interrupted = True
                    done_before += int(state.step[0])
                    break
            state = run(state, jnp.int32(n), image, lm, jnp.int32(stage.steps), jnp.int32(si))
            g = done_before + int(state.step[0])
            b = int(jnp.argmin(state.loss))
            history.append((g, float(state.loss[b]), float(state.mse[b]), float(state.bpp[b])))
            if bar is not None:
                psnr = -10 * np.log10(max(history[-1][2], 1e-12))
                bar.set_postfix_str(f"{stage.name} loss={history[-1][1]:.5f} bpp={history[-1][3]:.4f} psnr={psnr:.2f}")
                bar.update(g - bar.n)
            if checkpoint_dir:
                save_checkpoint(checkpoint_dir, si, state, meta)
        if interrupted:
            break
        done_before += stage.steps
        if stop_after is not None and done_before >= stop_after and si + 1 < len(recipe.stages):
            if checkpoint_dir:  # the next stage starts fresh from these parameters
                save_checkpoint(checkpoint_dir, si, state, meta)
            interrupted = True
            break
    if bar is not None:
        bar.close()
    steps_done = done_before
    finished = not interrupted
    final = state.best_params if (finished and recipe.stages[-1].keep_best) else state.params
    candidates = []
    for i, s in enumerate(seeds):
        ev = evaluate(_unstack(final, i), config, np.asarray(image[i] if _batched else image), with_reconstruction=False)
        candidates.append({"seed": s, "rd_cost": ev["mse"] + lmbda * ev["bpp_latents"], "psnr": ev["psnr"],
                           "bpp_latents": ev["bpp_latents"]})
    seconds = time.perf_counter() - t0
    if _batched:
        return [FitResult(_unstack(final, i), config, lmbda, steps_done, seconds, history, [cd], 0)
                for i, cd in enumerate(candidates)]
    chosen = int(np.argmin([cd["rd_cost"] for cd in candidates]))
    return FitResult(_unstack(final, chosen), config, lmbda, steps_done, seconds, history, candidates, chosen)


def _fit_pruned(image, config, recipe, lmbda, seeds, after, keep, *, batch, chunk, checkpoint_dir, progress,
                params) -> FitResult:
    """fit(..., prune=(after, keep)): see fit."""
    if batch not in SEPARATE:
        raise ValueError(f"early pruning works with separate fits (batch {' or '.join(map(repr, SEPARATE))})")
    if not 0 < keep < len(seeds):
        raise ValueError(f"keep must be between 1 and the number of candidates - 1, got {keep} of {len(seeds)}")
    if not 0 < after < recipe.steps:
        raise ValueError(f"prune after {after} steps: must be between 1 and the budget - 1 ({recipe.steps - 1})")
    with tempfile.TemporaryDirectory() as tmp:
        root = checkpoint_dir or tmp
        run = lambda s, **kw: fit(image, config, recipe, lmbda, s, chunk=chunk, progress=progress,  # noqa: E731
                                  params=params, checkpoint_dir=os.path.join(root, f"seed{s}"), **kw)
        runs, t_early = _each(lambda s: run(s, stop_after=after), seeds, batch)
        early = dict(zip(seeds, runs))
        kept = sorted(seeds, key=lambda s: early[s].candidates[0]["rd_cost"])[:keep]
        runs, t_done = _each(run, kept, batch)
        done = dict(zip(kept, runs))
    chosen_seed = min(kept, key=lambda s: done[s].candidates[0]["rd_cost"])
    rows = [done[s].candidates[0] if s in done else {**early[s].candidates[0], "pruned_at": after} for s in seeds]
    seconds = t_early + t_done
    return dataclasses.replace(done[chosen_seed], candidates=rows, chosen=seeds.index(chosen_seed), seconds=seconds)


def fit_batch(images, config: ModelConfig, recipe: Recipe, lmbda: float, seed: int = 0, *, chunk: int = 100,
              progress: bool = True, batch: str | None = None) -> list[FitResult]:
    """Fit several same-shape targets (images (C, H, W) or video patches (C, T, H, W)), each its
    own model: as separate fits by default (batch_mode(separate=True)), or together in one
    compiled loop with batch="vmap" or "map" (see batch_mode). Returns one FitResult per target, in order."""
    images = np.stack([np.asarray(im, np.float32) for im in images])
    return fit(images, config, recipe, lmbda, seed, chunk=chunk, progress=progress, batch=batch, _batched=True)


def evaluate(params: dict, config: ModelConfig, image: np.ndarray, with_reconstruction: bool = True) -> dict:
    """Reconstruction with hard-rounded latents, its MSE/PSNR and latent bits (float ARM)."""
    image = jnp.asarray(image, jnp.float32)
    rec, bits = _eval_fn(config, image.shape[1:])(params)
    mse = float(jnp.mean((rec - image) ** 2))
    out = {"mse": mse, "psnr": float(-10 * np.log10(max(mse, 1e-20))), "latent_bits": float(bits),
           "bpp_latents": float(bits) / image[0].size}
    if with_reconstruction:
        out["reconstruction"] = np.asarray(rec)
    return out


_EVAL_CACHE: dict = {}


def _eval_fn(config: ModelConfig, dims: tuple):
    def make():
        model = model_for(config)

        def run(params):
            q = hard_round(config.scale_latents(params["latents"]))
            return model.decode(params, q, config, *dims), model.rate_bits(params, q, config)

        return jax.jit(run)

    return _cached(_EVAL_CACHE, (config, tuple(dims)), make)
