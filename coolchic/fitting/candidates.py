"""Fits of several candidates: seeds of one target, or same-shape targets, and early pruning.

Candidates are fitted as separate fits (one after the other, or concurrently on threads) or
together in one compiled loop (loop.fit_together, batched with vmap or lax.map); `batch_mode`
picks the default. `fit` returns the best of a target's candidates, `fit_batch` one fit per target.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import jax
import numpy as np

from coolchic.config import ModelConfig
from coolchic.fitting.loop import fit_together
from coolchic.fitting.recipes import Recipe
from coolchic.fitting.result import FitResult
from coolchic.fitting.threads import map_concurrently


def batch_mode(separate: bool = False) -> str:
    """How several candidates are fitted by default: "threads" on a CPU, where concurrent
    separate fits fill the core that the small ops of one fit leave idle part of the time;
    elsewhere "vmap" (one compiled loop for all, faster than serial fits on a GPU), or "serial"
    with `separate` (early pruning needs separate fits, and several images stay separate fits
    until vmapped ones are timed on a GPU). Every mode stays selectable through `batch`."""
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
        out = map_concurrently(fn, items, os.cpu_count() or 1)
    else:
        out = [fn(item) for item in items]
    return out, time.perf_counter() - t0


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
    prune: tuple | None = None,
) -> FitResult:
    """Fit the model to one image (C, H, W) in [0, 1] (or a video (C, T, H, W)).

    seeds: fit one candidate per seed (as `batch` says) and return the one with the lowest RD
        cost (MSE + lambda * latent bpp, latents hard-rounded).
    checkpoint_dir: the state is saved there at every chunk end, and a fit started with a
        directory that holds a checkpoint of the same problem resumes from it.
    stop_after: stop (after checkpointing) once this many steps are done in total — used to
        simulate an interruption.
    batch: how several seeds are fitted: "vmap", "map" (both one compiled loop), "serial" or
        "threads" (separate fits, one after the other or concurrently); default batch_mode(). One
        candidate is always fitted alone, as a lax.map over one.
    prune: (after, keep), or several such rounds — early pruning of candidates, as Cool-chic's
        warm-up: every seed is fitted for `after` steps, the `keep` lowest RD costs go on (resumed
        from their checkpoints, so they follow exactly their unpruned paths). Separate fits only.
    With one seed and no pruning asked for, the recipe's own candidates and pruning apply
    (coolchic5: 5 seeds from `seed` on, pruned to 2 then 1).
    """
    seeds = list(seeds) if seeds else [seed]
    if prune is None and len(seeds) == 1 and recipe.candidates > 1:
        seeds = list(range(seeds[0], seeds[0] + recipe.candidates))
        prune = recipe.prune or None
    batch = batch or batch_mode(separate=prune is not None)
    if prune is not None:
        return _fit_pruned(
            image,
            config,
            recipe,
            lmbda,
            seeds,
            _prune_rounds(prune),
            batch=batch,
            chunk=chunk,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            params=params,
        )
    return _fit_seeds(
        image,
        config,
        recipe,
        lmbda,
        seeds,
        batch=batch,
        chunk=chunk,
        checkpoint_dir=checkpoint_dir,
        stop_after=stop_after,
        progress=progress,
        params=params,
    )


def fit_batch(
    images,
    config: ModelConfig,
    recipe: Recipe,
    lmbda: float,
    seed: int = 0,
    *,
    chunk: int = 100,
    progress: bool = True,
    batch: str | None = None,
) -> list[FitResult]:
    """Fit several same-shape targets (images (C, H, W) or video patches (C, T, H, W)), each its
    own model: as separate fits by default (batch_mode(separate=True)), or together in one
    compiled loop with batch="vmap" or "map" (see batch_mode). Returns one FitResult per target, in order.
    A recipe with candidates of its own (coolchic5) fits the targets one after the other, each as `fit`."""
    if recipe.candidates > 1:
        each = batch if batch in SEPARATE else None  # its pruning needs separate fits
        return [fit(im, config, recipe, lmbda, seed, chunk=chunk, progress=progress, batch=each) for im in images]
    images = np.stack([np.asarray(im, np.float32) for im in images])
    return _fit_targets(
        images, config, recipe, lmbda, seed, batch=batch or batch_mode(separate=True), chunk=chunk, progress=progress
    )


def _fit_one(image, config: ModelConfig, recipe: Recipe, lmbda: float, seed: int, **kw) -> FitResult:
    """One candidate fitted alone: the plain program of a single fit (keywords: fit_together's)."""
    return fit_together(image, config, recipe, lmbda, [seed], **kw)[0]


def _best(runs: list[FitResult], seconds: float | None = None) -> FitResult:
    """The run of the lowest RD cost, with every run's candidate row (and `seconds` if given)."""
    rows = [r.candidates[0] for r in runs]
    chosen = int(np.argmin([row["rd_cost"] for row in rows]))
    return dataclasses.replace(
        runs[chosen], candidates=rows, chosen=chosen, seconds=runs[chosen].seconds if seconds is None else seconds
    )


def _fit_seeds(
    image,
    config: ModelConfig,
    recipe: Recipe,
    lmbda: float,
    seeds: list[int],
    *,
    batch: str,
    checkpoint_dir: str | None = None,
    **kw,
) -> FitResult:
    """fit without pruning: one candidate per seed, the lowest RD cost chosen. Separate fits (batch
    in SEPARATE) keep their checkpoints in checkpoint_dir/seed{s}."""
    if len(seeds) > 1 and batch in SEPARATE:
        runs, seconds = _each(
            lambda s: _fit_one(
                image,
                config,
                recipe,
                lmbda,
                s,
                checkpoint_dir=checkpoint_dir and os.path.join(checkpoint_dir, f"seed{s}"),
                **kw,
            ),
            seeds,
            batch,
        )
        return _best(runs, seconds)
    mode = "map" if batch in SEPARATE else batch
    return _best(fit_together(image, config, recipe, lmbda, seeds, mode=mode, checkpoint_dir=checkpoint_dir, **kw))


def _prune_rounds(prune) -> tuple[tuple[int, int], ...]:
    """(after, keep) or a sequence of them -> a tuple of rounds."""
    rounds = (prune,) if isinstance(prune[0], int) else prune
    return tuple((int(after), int(keep)) for after, keep in rounds)


def _fit_pruned(
    image, config, recipe, lmbda, seeds, rounds, *, batch, chunk, checkpoint_dir, progress, params
) -> FitResult:
    """fit(..., prune=rounds): see fit."""
    if batch not in SEPARATE:
        raise ValueError(f"early pruning works with separate fits (batch {' or '.join(map(repr, SEPARATE))})")
    alive, done_at = len(seeds), 0
    for after, keep in rounds:
        if not 0 < keep < alive:
            raise ValueError(f"keep must be between 1 and the number of candidates - 1, got {keep} of {alive}")
        if not done_at < after < recipe.steps:
            raise ValueError(
                f"prune after {after} steps: must be after the previous round ({done_at}) and before the budget "
                f"({recipe.steps})"
            )
        alive, done_at = keep, after
    with tempfile.TemporaryDirectory() as tmp:
        root = checkpoint_dir or tmp
        run = lambda s, **kw: _fit_one(
            image,
            config,
            recipe,
            lmbda,
            s,
            chunk=chunk,
            progress=progress,
            params=params,
            checkpoint_dir=os.path.join(root, f"seed{s}"),
            **kw,
        )
        kept, pruned, seconds = list(seeds), {}, 0.0
        for after, keep in rounds:
            runs, t = _each(lambda s, after=after: run(s, stop_after=after), kept, batch)
            rd = {s: r.candidates[0]["rd_cost"] for s, r in zip(kept, runs)}
            ranked = sorted(kept, key=rd.get)
            pruned.update(
                {s: {**r.candidates[0], "pruned_at": after} for s, r in zip(kept, runs) if s not in ranked[:keep]}
            )
            kept, seconds = ranked[:keep], seconds + t
        runs, t = _each(run, kept, batch)
        done = dict(zip(kept, runs))
    chosen_seed = min(kept, key=lambda s: done[s].candidates[0]["rd_cost"])
    rows = [done[s].candidates[0] if s in done else pruned[s] for s in seeds]
    return dataclasses.replace(done[chosen_seed], candidates=rows, chosen=seeds.index(chosen_seed), seconds=seconds + t)


def _fit_targets(
    images: np.ndarray, config: ModelConfig, recipe: Recipe, lmbda: float, seed: int, *, batch: str, **kw
) -> list[FitResult]:
    """fit_batch: targets stacked (N, C, ...), each its own model started from `seed`, fitted as
    separate fits or as one candidate per target in one compiled loop."""
    if batch in SEPARATE:
        return _each(lambda im: _fit_one(im, config, recipe, lmbda, seed, **kw), list(images), batch)[0]
    return fit_together(images, config, recipe, lmbda, [seed] * len(images), mode=batch, per_candidate=True, **kw)
