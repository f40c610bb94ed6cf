"""One optimisation step of a fit, and the compiled chunk of steps that the loop calls.

The state of a fit is a FitState; a step is a pure function of (state, image, lambda, stage
length, stage index). Per-step randomness is `fold_in(key, step)` and schedules are functions of
the step, all on device, so a step depends only on (state, step): a fit that is checkpointed,
interrupted and resumed follows the same trajectory as an uninterrupted one. `chunk_fn` compiles
many steps into one call, once per recipe.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from coolchic.config import ModelConfig
from coolchic.fitting.recipes import Stage
from coolchic.model import model_for
from coolchic.model.arrays import one_at_a_time
from coolchic.model.fit_space import to_model


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


def init_state(params, stage: Stage, key, opt_state=None) -> FitState:
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    # Fresh buffers for every leaf: the chunk function donates its state, and a buffer shared by
    # two leaves (or by params and best_params) cannot be donated twice.
    copy = lambda t: jax.tree.map(lambda a: jnp.array(a, dtype=a.dtype, copy=True), t)
    params = copy(params)
    opt_state = stage.optimizer.transform().init(params) if opt_state is None else copy(opt_state)
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
    rd = lambda pq, x: model_for(config).rd_terms(*pq, config, x)
    mse, bits = (one_at_a_time(rd) if one_by_one else rd)((params, latents), image)
    bpp = bits / image[0].size
    return mse + lmbda * bpp, mse, bpp


def _bookkeeping(stage: Stage):
    """The end of a step of `stage`: best parameters, plateau lr drops and resets, metrics."""

    def finish(state: FitState, params, opt_state, loss, mse, bpp, judged) -> FitState:
        # Loss (and `judged`, the loss that decides "best") was measured at state.params: that is
        # the candidate for "best".
        better = judged < state.best_loss
        pick = lambda cond, a, b: jax.tree.map(lambda x, y: jnp.where(cond, x, y), a, b)
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
            params=params,
            opt_state=opt_state,
            step=state.step + 1,
            key=state.key,
            best_params=best_params,
            best_opt_state=best_opt,
            best_loss=jnp.minimum(judged, state.best_loss),
            lr_scale=lr_scale,
            since_best=since,
            loss=loss,
            mse=mse,
            bpp=bpp,
        )

    return finish


def make_step(config: ModelConfig, stages: tuple[Stage, ...], one_by_one: bool = False):
    """One optimisation step `(state, image, lmbda, stage_length, stage_index) -> state` for any
    stage of a recipe: the stage index is traced, so a recipe compiles once (not once per stage).
    lax.switch picks the stage's quantizer, learning rate, optimizer and bookkeeping (keep-best,
    plateau), each branch written with that stage's flags as constants: one compile instead of
    one per stage, at the same time per step."""

    def chosen(fns):  # (si, *args) -> fns[si](*args)
        if len(fns) == 1:
            return lambda si, *a: fns[0](*a)
        return lambda si, *a: jax.lax.switch(si, fns, *a)

    quantize = chosen([s.quantize for s in stages])
    learning_rate = chosen([s.learning_rate for s in stages])
    # One branch per distinct optimizer (C3's two stages share one).
    optimizers = list(dict.fromkeys(s.optimizer for s in stages))
    which = jnp.asarray([optimizers.index(s.optimizer) for s in stages], jnp.int32)
    optimizer_update = chosen([o.transform().update for o in optimizers])
    bookkeeping = chosen([_bookkeeping(s) for s in stages])

    def objective(params, si, key, progress, image, lmbda):
        model_params = to_model(params, config)
        q = quantize(si, model_params["latents"], key, progress)
        loss, mse, bpp = loss_terms(model_params, q, config, image, lmbda, one_by_one)
        return loss, (mse, bpp)

    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def hard_loss(params, image, lmbda):
        model_params = to_model(params, config)
        q = [jnp.round(g) for g in model_params["latents"]]
        return loss_terms(model_params, q, config, image, lmbda, one_by_one)[0]

    def judge(stage: Stage):
        """(loss, state, total, image, lmbda) -> the loss that decides "best" for this stage."""
        k = stage.validate_every if stage.keep_best else 0
        if k <= 0:
            return lambda loss, *_: loss

        def judged(loss, state, total, image, lmbda):
            due = (state.step % k == 0) | (state.step == total - 1)
            return jax.lax.cond(due, lambda: hard_loss(state.params, image, lmbda), lambda: jnp.float32(jnp.inf))

        return judged

    judged_loss = chosen([judge(s) for s in stages])

    def step(state: FitState, image, lmbda, total, si) -> FitState:
        progress = state.step.astype(jnp.float32) / jnp.maximum(total, 1).astype(jnp.float32)
        key = jax.random.fold_in(state.key, state.step)
        (loss, (mse, bpp)), grads = grad_fn(state.params, si, key, progress, image, lmbda)
        updates, opt_state = optimizer_update(which[si], grads, state.opt_state, state.params)
        lr = learning_rate(si, progress) * state.lr_scale
        params = optax.apply_updates(state.params, jax.tree.map(lambda u: -lr * u, updates))
        judged = judged_loss(si, loss, state, total, image, lmbda)
        return bookkeeping(si, state, params, opt_state, loss, mse, bpp, judged)

    return step


# ----------------------------------------------------------------------------- compiled functions

_CHUNK_CACHE: dict = {}
_JIT_LOCK = threading.Lock()


def cached(cache: dict, key, make):
    """cache[key], made on first use. Under a lock: candidate threads asking at once share one
    jitted function (with one each, both compiled the same program)."""
    with _JIT_LOCK:
        if key not in cache:
            cache[key] = make()
        return cache[key]


def chunk_fn(config: ModelConfig, stages: tuple[Stage, ...], mode: str = "map", per_candidate: bool = False):
    """Compiled `(state, n, image, lmbda, total, stage_index) -> state` running n steps of every
    candidate in stage `stages[stage_index]`.

    The state carries a leading candidate axis; candidates (e.g. seeds) are fitted together in
    one loop, batched with `jax.vmap` (mode "vmap"; on a CPU with the networks run one candidate
    at a time inside it, as XLA:CPU runs batched networks slower than separate ones) or `lax.map`
    (mode "map", which over one candidate is the plain program of a single fit). per_candidate:
    `image` has the candidate axis too (several same-shape images or video patches fitted
    together). `total` (the stage length, on which schedules depend) and the stage index are
    traced, so one executable serves every stage and step budget of a recipe: cached per (config,
    stages without their lengths, mode, per_candidate).
    """
    stages = tuple(dataclasses.replace(s, steps=0) for s in stages)
    key = (config, stages, mode, per_candidate)

    def make():
        one = make_step(config, stages, one_by_one=mode == "vmap" and jax.default_backend() == "cpu")
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

    return cached(_CHUNK_CACHE, key, make)


# ----------------------------------------------------------------------------- candidate axis


def stack(trees: list):
    """Pytrees of the same structure stacked leaf by leaf on a new leading (candidate) axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree, i: int):
    """Candidate i of a stacked pytree."""
    return jax.tree.map(lambda x: x[i], tree)
