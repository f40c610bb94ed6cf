"""Fitting a model to one target: recipes of stages, run by one compiled loop.

- recipes: a fit is a Recipe, a tuple of Stages (steps, quantizer, learning rate, optimizer,
  bookkeeping) and its starting candidates; RECIPES / get_recipe find them by name. coolchic5:
  Cool-chic 5's recipe; optimizers: Adam and Cool-chic 5's SOAP (soap) as stage values.
- step: the state of a fit and one optimisation step; chunk_fn compiles many steps into one call.
- loop: the stages and chunks of one set of candidates fitted together (history, progress,
  checkpoints, resume); checkpoints: saving and restoring that state.
- candidates: fit (the best of several seeds, optionally pruned early) and fit_batch (several
  same-shape targets), as separate fits or in one compiled loop (batch_mode, SEPARATE).
- result: FitResult, and evaluate (rounded latents: MSE, PSNR, latent rate).
"""

from coolchic.fitting.candidates import SEPARATE, batch_mode, fit, fit_batch
from coolchic.fitting.coolchic5 import coolchic5_recipe
from coolchic.fitting.recipes import RECIPES, Recipe, Stage, get_recipe
from coolchic.fitting.result import FitResult, evaluate
from coolchic.fitting.step import chunk_fn

RECIPES["coolchic5"] = coolchic5_recipe

__all__ = [
    "RECIPES",
    "SEPARATE",
    "FitResult",
    "Recipe",
    "Stage",
    "batch_mode",
    "chunk_fn",
    "coolchic5_recipe",
    "evaluate",
    "fit",
    "fit_batch",
    "get_recipe",
]
