"""Network weights to bits: per-module quantization steps, Laplace-coded integers, step search.

Each module (arm, upsampling, synthesis) has a weight step 2^-kw and a bias step 2^-kb (powers of
two, so the ARM's integers are exact in fixed point). Each group of integers (a module's weights,
its biases) is coded with a zero-mean QuantizedLaplace on [-R, R] whose scale and R are in the
header. The steps are chosen per module on a 7 x 7 grid, minimising MSE + lambda * total bpp.
(C3 searches one weight and one bias step from 5e-5 ... 1e-2 for all modules; powers of two here
keep the ARM's fixed point exact, and each module gets its own.)
"""

from __future__ import annotations

import dataclasses

import constriction
import jax
import numpy as np

from coolchic.coding.fixed_arm import WEIGHT_MAX

MODULES = ("arm", "upsampling", "synthesis")
WEIGHT_EXPONENTS = tuple(range(4, 11))  # steps 1/16 ... 1/1024
BIAS_EXPONENTS = tuple(range(4, 11))
MAX_INT = 2**20


@dataclasses.dataclass(frozen=True)
class GroupCode:
    """How one group of integers is coded: support [-r, r], Laplace scale."""

    r: int
    scale: float


def _is_bias(path) -> bool:
    last = path[-1]
    return getattr(last, "key", None) == "b"


def split_groups(tree) -> tuple[list, list]:
    """(weight leaves, bias leaves) of a module pytree, in a fixed (tree) order."""
    w, b = [], []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        (b if _is_bias(path) else w).append(leaf)
    return w, b


def quantize_module(tree, kw: int, kb: int, clip: float | None = None):
    """Integer pytree (same structure) of a module at steps 2^-kw (weights) and 2^-kb (biases)."""

    def q(path, leaf):
        k = kb if _is_bias(path) else kw
        x = np.asarray(leaf, np.float64)
        if clip is not None and not _is_bias(path):
            x = np.clip(x, -clip, clip)
        return np.clip(np.round(x * 2.0**k), -MAX_INT, MAX_INT).astype(np.int64)

    return jax.tree_util.tree_map_with_path(q, tree)


def dequantize_module(qtree, kw: int, kb: int):
    return jax.tree_util.tree_map_with_path(
        lambda path, v: (np.asarray(v, np.float64) / 2.0 ** (kb if _is_bias(path) else kw)).astype(np.float32), qtree
    )


def bf16_bits(x: float) -> int:
    """The bfloat16 (upper half of a float32, rounded to nearest even) nearest to x, as a u16."""
    bits = int(np.array(x, np.float32).view(np.uint32))
    return (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16


def bf16_value(bits: int) -> float:
    return float(np.array(bits << 16, np.uint32).view(np.float32))


def group_code(ints: np.ndarray) -> GroupCode:
    """Support and Laplace scale (mean |int|, at least 0.1, rounded to bfloat16: the header
    stores it in 2 bytes) of one group; scale 1 for an all-zero group."""
    r = int(np.abs(ints).max(initial=0))
    if r == 0:  # all zeros: no symbols, and format 2 stores no scale
        return GroupCode(0, 1.0)
    scale = bf16_value(bf16_bits(max(np.mean(np.abs(ints)) if ints.size else 1.0, 0.1)))
    return GroupCode(r, scale)


def _model(code: GroupCode):
    return constriction.stream.model.QuantizedLaplace(-code.r, code.r, 0.0, code.scale)


def encode_groups(groups: list[np.ndarray], encoder) -> list[GroupCode]:
    """Append each group (flattened ints) to a constriction queue encoder; return their codes."""
    codes = []
    for ints in groups:
        code = group_code(ints)
        if code.r > 0:
            encoder.encode(ints.astype(np.int32).ravel(), _model(code))
        codes.append(code)
    return codes


def decode_group(decoder, code: GroupCode, size: int) -> np.ndarray:
    if code.r == 0:
        return np.zeros(size, np.int64)
    return decoder.decode(_model(code), size).astype(np.int64)


def group_bits(ints: np.ndarray) -> float:
    """Exact coded size in bits of one group on its own (used by the step search)."""
    if ints.size == 0:
        return 0.0
    enc = constriction.stream.queue.RangeEncoder()
    encode_groups([ints.ravel()], enc)
    return 32.0 * enc.num_words()


def module_ints(tree, kw: int, kb: int, clip=None) -> tuple[object, list[np.ndarray]]:
    qt = quantize_module(tree, kw, kb, clip)
    w, b = split_groups(qt)
    cat = lambda xs: np.concatenate([np.ravel(x) for x in xs]) if xs else np.zeros(0, np.int64)
    return qt, [cat(w), cat(b)]


def module_clip(name: str):
    return WEIGHT_MAX if name == "arm" else None


def search_module_steps(name: str, tree, cost_fn, lmbda: float, n_pixels: int) -> tuple[int, int]:
    """(kw, kb) minimising cost_fn(dequantized module) + lambda * (its coded bits) / pixels.

    cost_fn gives the part of the RD cost the module affects: MSE for synthesis/upsampling,
    lambda * latent bpp for the ARM.
    """
    if not jax.tree.leaves(tree):
        return WEIGHT_EXPONENTS[0], BIAS_EXPONENTS[0]
    best = None
    for kw in WEIGHT_EXPONENTS:
        for kb in BIAS_EXPONENTS:
            qt, groups = module_ints(tree, kw, kb, module_clip(name))
            bits = sum(group_bits(g) for g in groups)
            cost = cost_fn(dequantize_module(qt, kw, kb)) + lmbda * bits / n_pixels
            if best is None or cost < best[0]:
                best = (cost, kw, kb)
    return best[1], best[2]
