"""The fitting loop: the stages of a recipe, in chunks, for a set of candidates fitted together.

The candidates (one per seed, or one per same-shape target) share one compiled chunk function
(step.chunk_fn), which runs many steps per call; between calls the loop records the history,
moves the progress bar, saves a checkpoint and stops once `stop_after` steps are done. A fit
started on a checkpoint of the same problem resumes from it and, as a step depends only on
(state, step), follows the trajectory of an uninterrupted fit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from coolchic.config import ModelConfig
from coolchic.fitting.checkpoints import checkpoint_meta, load_checkpoint, save_checkpoint
from coolchic.fitting.recipes import Recipe
from coolchic.fitting.result import FitResult, evaluate
from coolchic.fitting.step import FitState, chunk_fn, init_state, stack, unstack
from coolchic.model import model_for


def fit_together(
    image,
    config: ModelConfig,
    recipe: Recipe,
    lmbda: float,
    seeds: list[int],
    *,
    mode: str = "map",
    per_candidate: bool = False,
    chunk: int = 100,
    checkpoint_dir: str | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    params: dict | None = None,
) -> list[FitResult]:
    """Fit len(seeds) candidates, candidate i from seeds[i], in one compiled loop (batched as
    `mode` says, "vmap" or "map"; one candidate always runs the plain program of a single fit, a
    lax.map over one) and return one FitResult per candidate, in order, each with its own row in
    `candidates`.

    image: the target (C, H, W) or video (C, T, H, W), or with per_candidate one target per
        candidate (N, C, ...). params: initial parameters for every candidate (default: drawn from
        each seed). checkpoint_dir, stop_after: as in candidates.fit.
    """
    image, seeds = jnp.asarray(image, jnp.float32), list(seeds)
    shape = _target_shape(image, config, per_candidate)
    roots = [jax.random.split(jax.random.PRNGKey(s)) for s in seeds]
    if params is None:
        params = stack([model_for(config).init_params(k_init, config, *shape[1:]) for k_init, _ in roots])
    else:
        params = stack([params] * len(seeds))
    fit_keys = [k_fit for _, k_fit in roots]
    meta = {
        "config": config.to_dict(),
        "recipe": recipe.name,
        "steps": recipe.steps,
        "lmbda": lmbda,
        "seeds": seeds,
        "shape": shape,
        "image_sum": float(np.asarray(image, np.float64).sum()),
    }
    resume_stage = _resume_stage(checkpoint_dir, meta)
    bar = _progress_bar(recipe.steps) if progress else None
    t0 = time.perf_counter()
    try:
        compiled = chunk_fn(config, recipe.stages, mode if len(seeds) > 1 else "map", per_candidate=per_candidate)
        run = _Chunks(compiled, image, jnp.float32(lmbda), chunk, stop_after, checkpoint_dir, meta, bar)
        state, steps, finished = _run_stages(run, recipe, params, fit_keys, resume_stage)
    finally:
        if bar is not None:
            bar.close()
    final = state.best_params if (finished and recipe.stages[-1].keep_best) else state.params
    rows = []
    for i, s in enumerate(seeds):
        ev = evaluate(
            unstack(final, i), config, np.asarray(image[i] if per_candidate else image), with_reconstruction=False
        )
        rows.append(
            {
                "seed": s,
                "rd_cost": ev["mse"] + lmbda * ev["bpp_latents"],
                "psnr": ev["psnr"],
                "bpp_latents": ev["bpp_latents"],
            }
        )
    seconds = time.perf_counter() - t0
    return [
        FitResult(unstack(final, i), config, lmbda, steps, seconds, run.history, [row], 0, recipe.rdoq)
        for i, row in enumerate(rows)
    ]


def _target_shape(image, config: ModelConfig, per_candidate: bool) -> list[int]:
    """[C, *dims] of one target, checked against the model's dimensions and channels."""
    c, *dims = image.shape[1:] if per_candidate else image.shape
    if len(dims) != model_for(config).n_dims:
        expected = "video (C, T, H, W)" if config.is_video else "image (C, H, W)"
        raise ValueError(f"expected a {expected}, got shape {image.shape}")
    if c != config.out_channels:
        raise ValueError(f"image has {c} channels, config expects {config.out_channels}")
    return [c, *dims]


def _resume_stage(checkpoint_dir: str | None, meta: dict) -> int | None:
    """The stage the checkpoint in checkpoint_dir was saved in; None without one. A checkpoint of
    another fit (another meta) is refused."""
    if not checkpoint_dir or (saved := checkpoint_meta(checkpoint_dir)) is None:
        return None
    if {k: saved.get(k) for k in meta} != meta:
        raise ValueError(f"checkpoint in {checkpoint_dir} is for a different fit; use another directory")
    return saved["stage_index"]


def _progress_bar(total: int):
    return tqdm(total=total, unit="step", dynamic_ncols=True, leave=False)


@dataclasses.dataclass
class _Chunks:
    """What every chunk of one fit uses: the compiled chunk function and its fixed arguments, the
    step budget, the checkpoint, and the history and progress bar that each chunk feeds."""

    compiled: Callable
    image: Any
    lmbda: Any
    chunk: int
    stop_after: int | None
    checkpoint_dir: str | None
    meta: dict
    bar: Any  # a tqdm bar, or None
    history: list = dataclasses.field(default_factory=list)  # (global_step, loss, mse, bpp)

    def save(self, stage_index: int, state: FitState) -> None:
        if self.checkpoint_dir:
            save_checkpoint(self.checkpoint_dir, stage_index, state, self.meta)


def _run_stages(run: _Chunks, recipe: Recipe, params, fit_keys: list, resume_stage: int | None):
    """The stages of the recipe from resume_stage (the first without a checkpoint), the first one
    from the saved state if resuming: (last state, steps done in all, whether the recipe finished)."""
    start = resume_stage or 0
    done_before = sum(s.steps for s in recipe.stages[:start])  # steps of completed stages
    state = None
    for si in range(start, len(recipe.stages)):
        stage = recipe.stages[si]
        state = _stage_start(recipe, si, state, params, fit_keys)
        if si == resume_stage:
            state = load_checkpoint(run.checkpoint_dir, state)
        state, stopped = _run_stage(run, state, si, stage.steps, done_before, stage.name)
        if stopped:
            return state, done_before + int(state.step[0]), False
        done_before += stage.steps
        if run.stop_after is not None and done_before >= run.stop_after and si + 1 < len(recipe.stages):
            run.save(si, state)  # the next stage starts fresh from these parameters
            return state, done_before, False
    return state, done_before, True


def _stage_start(recipe: Recipe, si: int, previous: FitState | None, params, fit_keys: list) -> FitState:
    """The state at the start of stage si: the previous stage's best or last parameters (`params`
    for the first stage), its Adam state if this stage carries it over, keys folded with si."""
    stage = recipe.stages[si]
    carried, opt = params, None
    if previous is not None:
        carried = previous.best_params if recipe.stages[si - 1].keep_best else previous.params
        opt = previous.opt_state if stage.carry_opt_state else None
    keys = jnp.stack([jax.random.fold_in(k, si) for k in fit_keys])
    return jax.vmap(lambda p, k, o: init_state(p, stage, k, o), in_axes=(0, 0, None if opt is None else 0))(
        carried, keys, opt
    )


def _run_stage(run: _Chunks, state: FitState, si: int, steps: int, done_before: int, name: str):
    """Chunks of stage si (of `steps` steps) from state.step to the stage's end: (state, whether
    stop_after stopped the fit inside the stage). A checkpoint is saved after each chunk."""
    if run.bar is not None:
        run.bar.n = done_before + int(state.step[0])
        run.bar.refresh()
    while int(state.step[0]) < steps:
        n = min(run.chunk, steps - int(state.step[0]))
        if run.stop_after is not None:
            n = min(n, run.stop_after - (done_before + int(state.step[0])))
            if n <= 0:
                return state, True
        state = run.compiled(state, jnp.int32(n), run.image, run.lmbda, jnp.int32(steps), jnp.int32(si))
        g = done_before + int(state.step[0])
        b = int(jnp.argmin(state.loss))
        run.history.append((g, float(state.loss[b]), float(state.mse[b]), float(state.bpp[b])))
        if run.bar is not None:
            _, loss, mse, bpp = run.history[-1]
            psnr = -10 * np.log10(max(mse, 1e-12))
            run.bar.set_postfix_str(f"{name} loss={loss:.5f} bpp={bpp:.4f} psnr={psnr:.2f}")
            run.bar.update(g - run.bar.n)
        run.save(si, state)
    return state, False
