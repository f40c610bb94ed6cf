"""Rate-distortion optimised rounding (RDOQ) of a module's integer weights, after its step search.

Rounding to the nearest integer is not the best choice for every weight: a step towards zero may
save more rate than it adds distortion, and a step either way may undo a rounding error that the
rest of the decoder amplifies. As in Cool-chic 5.0.1's greedy search over individual parameters,
every integer is tried at -1 and +1 and the moves that lower the module's RD cost (its share of
the distortion or of the latent rate, plus lambda times its coded bits per pixel) are kept.
Moves are evaluated in batches from a common base (one vmapped call per batch); a batch's
improving moves are applied together and kept if the joint cost (exact coded bits) is lower,
otherwise only its best move is tried. The rate of a move is the change of -log2 P under its
group's Laplace at the current scale; a joint state is measured with the scale it would get.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.coding.weights import _is_bias, group_code

BATCH = 16  # moves per vmapped evaluation (a short last batch is padded: one compiled shape)


def laplace_bits(v: np.ndarray, scale) -> np.ndarray:
    """-log2 P(v) under a zero-mean Laplace of this scale, integrated over [v - 1/2, v + 1/2]."""
    b = np.maximum(scale, 1e-3)
    a = np.abs(v).astype(np.float64)
    p = np.where(a == 0, 1 - np.exp(-0.5 / b), 0.5 * (np.exp(-(a - 0.5) / b) - np.exp(-(a + 0.5) / b)))
    return -np.log2(np.maximum(p, 2.0**-30))


def ideal_bits(ints: np.ndarray) -> float:
    """Information content of a group under the code it would get (coolchic.coding.weights):
    smooth in the integers, where the coder's size moves by whole 32-bit words."""
    code = group_code(ints)
    return float(laplace_bits(ints, code.scale).sum()) if code.r else 0.0


def _spec(tree):
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    flat = np.concatenate([np.ravel(np.asarray(x)) for _, x in leaves]).astype(np.int64)
    is_bias = np.concatenate([np.full(np.size(x), _is_bias(p)) for p, x in leaves])
    return flat, is_bias, jax.tree_util.tree_structure(tree), [np.shape(x) for _, x in leaves]


def _rows_to_tree(rows: np.ndarray, treedef, shapes, lead: tuple):
    """Tree of leaves shaped lead + shape from (..., n) rows."""
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(rows[..., i : i + n].reshape((*lead, *s)))
        i += n
    return jax.tree_util.tree_unflatten(treedef, out)


def rdoq_module(ints, kw: int, kb: int, batch_cost, lmbda: float, n_pixels: int, clip=None, passes: int = 1):
    """Integer tree of one module after RDOQ (same structure as ints).

    batch_cost(trees) -> (B,) the module's distortion share (or lambda * latent bpp, for the ARM)
    of B dequantized module trees whose float32 leaves are stacked on a leading axis; clip: the
    largest |weight| allowed (coolchic.coding.weights.module_clip)."""
    if not jax.tree.leaves(ints):
        return ints
    flat, is_bias, treedef, shapes = _spec(ints)
    steps = np.where(is_bias, 2.0**-kb, 2.0**-kw)
    limit = np.where(is_bias | (clip is None), np.inf, np.floor((clip or 0) * 2.0**kw))

    def tree_of(rows: np.ndarray):
        lead = rows.shape[:-1]
        return jax.tree.map(jnp.asarray, _rows_to_tree((rows * steps).astype(np.float32), treedef, shapes, lead))

    def dist(rows: np.ndarray) -> np.ndarray:
        return np.asarray(batch_cost(tree_of(rows)), np.float64)

    def cost(v: np.ndarray) -> tuple[float, float]:
        d = float(dist(v[None])[0])
        return d + lmbda * sum(ideal_bits(v[is_bias == g]) for g in (False, True)) / n_pixels, d

    base, base_dist = cost(flat)
    for _ in range(passes):
        improved = False
        for delta in (-1, 1):
            codes = [group_code(flat[is_bias == g]) for g in (False, True)]
            scale = np.where(is_bias, codes[1].scale, codes[0].scale)
            dbits_all = laplace_bits(flat + delta, scale) - laplace_bits(flat, scale)
            order = np.flatnonzero(np.abs(flat + delta) <= limit)
            for start in range(0, order.size, BATCH):
                idx = order[start : start + BATCH]
                rows = np.repeat(flat[None], BATCH, 0)
                rows[np.arange(idx.size), idx] += delta
                moved = flat[idx] + delta
                gain = dist(rows)[: idx.size] - base_dist + lmbda * dbits_all[idx] / n_pixels
                good = np.flatnonzero(gain < 0)
                if not good.size:
                    continue
                trial = flat.copy()
                trial[idx[good]] = moved[good]
                c, d = cost(trial)
                if c >= base and good.size > 1:
                    trial = flat.copy()
                    j = good[np.argmin(gain[good])]
                    trial[idx[j]] = moved[j]
                    c, d = cost(trial)
                if c < base:
                    flat, base, base_dist, improved = trial, c, d, True
                    dbits_all = laplace_bits(flat + delta, scale) - laplace_bits(flat, scale)
        if not improved:
            break
    return _rows_to_tree(flat, treedef, shapes, ())
