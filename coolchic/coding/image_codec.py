"""Fitted parameters <-> .cool bytes: weight quantization, fixed-point ARM, range-coded latents.

encode() turns a fit into a file and reports what the decoder will reconstruct (the same host
code path, so they match pixel for pixel); decode() turns a file back into pixels.
"""

from __future__ import annotations

import time

import constriction
import jax
import jax.numpy as jnp
import numpy as np

from coolchic.coding import coolchic5_latents, host_decoder
from coolchic.coding.errors import BitstreamError
from coolchic.coding.fixed_arm import LATENT_MAX, LATENT_MIN, arm_to_fixed
from coolchic.coding.image_format import Header, pack, unpack
from coolchic.coding.latent_coding import decode_latents, encode_latents
from coolchic.coding.rdoq import rdoq_module
from coolchic.coding.weights import (
    MODULES,
    decode_group,
    dequantize_module,
    encode_groups,
    module_clip,
    module_ints,
    search_module_steps,
    split_groups,
)
from coolchic.config import CoolChic5Config, ModelConfig
from coolchic.io.image import to_integers
from coolchic.model import colour, model_for
from coolchic.model.fit_space import to_model


def latent_coder(config: ModelConfig):
    """(arm -> fixed-point ARM, encode_latents, decode_latents) of this model family."""
    if isinstance(config, CoolChic5Config):
        c5 = coolchic5_latents
        return lambda arm: c5.arm_to_fixed(arm, config), c5.encode_latents, c5.decode_latents
    return arm_to_fixed, encode_latents, decode_latents


def integer_latents(latents: list) -> list[np.ndarray]:
    return [np.clip(np.round(np.asarray(g, np.float64)), LATENT_MIN, LATENT_MAX) for g in latents]


_COST_FNS: dict = {}


def _cost_fns(config: ModelConfig, dims: tuple):
    """Jitted (arm, latents) -> bits and (upsampling, synthesis, latents, image) -> mse, and their
    batched forms for RDOQ: a batch of ARMs, of upsamplings (synthesis fixed), of syntheses."""
    key = (config, dims)
    if key not in _COST_FNS:
        model = model_for(config)
        bits = lambda arm, lat: model.rate_bits({"arm": arm}, lat, config)
        mse = lambda up, syn, lat, img: colour.mse(
            model.decode({"upsampling": up, "synthesis": syn}, lat, config, *dims), img, config.colour
        )
        batched = {
            "arm": jax.jit(jax.vmap(bits, (0, None))),
            "upsampling": jax.jit(jax.vmap(mse, (0, None, None, None))),
            "synthesis": jax.jit(jax.vmap(mse, (None, 0, None, None))),
        }
        _COST_FNS[key] = (jax.jit(bits), jax.jit(mse), batched)
    return _COST_FNS[key]


def quantize_params(params: dict, config: ModelConfig, image: np.ndarray, lmbda: float, rdoq: bool = False):
    """Search steps module by module (earlier choices stay quantized), then with rdoq round each
    module's integers by RD cost (coolchic.coding.rdoq); return (steps, integer module trees,
    dequantized modules). params are model parameters (fit_space.to_model); image is (C, H, W)
    or a video (C, T, H, W)."""
    dims = tuple(image.shape[1:])
    n_pixels = int(np.prod(dims))
    lat = [jnp.asarray(g, jnp.float32) for g in integer_latents(params["latents"])]
    bits_fn, mse_fn, batched = _cost_fns(config, dims)
    img = jnp.asarray(image)
    deq = {m: params[m] for m in MODULES}

    def cost_fn(name):
        if name == "arm":
            return lambda q: lmbda * float(bits_fn(q, lat)) / n_pixels
        other = "synthesis" if name == "upsampling" else "upsampling"
        return lambda q: float(mse_fn(*((q, deq[other]) if name == "upsampling" else (deq[other], q)), lat, img))

    def batch_cost(name):
        """The module's share of the RD cost for a batch of its trees, the other modules as they are."""
        if name == "arm":
            return lambda qs: lmbda * batched["arm"](qs, lat) / n_pixels
        if name == "upsampling":
            return lambda qs: batched["upsampling"](qs, deq["synthesis"], lat, img)
        return lambda qs: batched["synthesis"](deq["upsampling"], qs, lat, img)

    steps, ints = {}, {}
    for name in MODULES:
        steps[name] = search_module_steps(name, params[name], cost_fn(name), lmbda, n_pixels)
        ints[name], _ = module_ints(params[name], *steps[name], module_clip(name))
        if rdoq:
            ints[name] = rdoq_module(ints[name], *steps[name], batch_cost(name), lmbda, n_pixels, module_clip(name))
        deq[name] = dequantize_module(ints[name], *steps[name])
    return steps, ints, deq


def encode(
    params: dict, config: ModelConfig, image: np.ndarray, bit_depth: int, lmbda: float, rdoq: bool = False
) -> tuple[bytes, dict]:
    """Bytes of the file for a fitted model of image (C, H, W) in [0, 1], and a report with the
    reconstruction the decoder will produce ("reconstruction", float (C, H, W)). rdoq: RD-optimised
    rounding of the network weights (slower encode, fewer bits)."""
    t0 = time.perf_counter()
    c, h, w = image.shape
    params = to_model(params, config)
    steps, ints, deq = quantize_params(params, config, image, lmbda, rdoq)
    codes, weight_words = encode_weights(ints)
    latents = integer_latents(params["latents"])
    to_fixed, encode_grids, _ = latent_coder(config)
    latent_words, latent_bits = encode_grids(latents, to_fixed(deq["arm"]), config)
    header = Header(h, w, c, bit_depth, config, steps, codes)
    data, parts = pack(header, weight_words, latent_words)
    rec = _reconstruct(deq, latents, config, h, w, bit_depth)
    weight_bits = 32.0 * weight_words.size
    report = {
        "bytes": len(data),
        "bytes_by_part": parts,
        "bpp": 8.0 * len(data) / (h * w),
        "bpp_estimated": (latent_bits + weight_bits + 8.0 * parts["header"]) / (h * w),
        "bpp_latents_estimated": latent_bits / (h * w),
        "quantization_steps": {m: [2.0 ** -steps[m][0], 2.0 ** -steps[m][1]] for m in MODULES},
        "coding_seconds": time.perf_counter() - t0,
        "reconstruction": rec,
    }
    return data, report


def encode_weights(ints: dict) -> tuple[dict, np.ndarray]:
    """Range-code each module's integer weights and biases: (module -> group codes, words)."""
    enc = constriction.stream.queue.RangeEncoder()
    codes = {}
    for m in MODULES:
        wg, bg = split_groups(ints[m])
        cat = lambda xs: np.concatenate([np.ravel(x) for x in xs]) if xs else np.zeros(0, np.int64)
        codes[m] = encode_groups([cat(wg), cat(bg)], enc)
    return codes, enc.get_compressed()


def decode_weights(words: np.ndarray, templates: dict, steps: dict, codes: dict) -> dict:
    """Inverse of encode_weights: dequantized modules shaped like templates."""
    dec = constriction.stream.queue.RangeDecoder(words)
    deq = {}
    for m in MODULES:
        wg, bg = split_groups(templates[m])
        sizes = [sum(int(np.prod(x.shape)) for x in g) for g in (wg, bg)]
        flats = [decode_group(dec, code, n) for code, n in zip(codes[m], sizes)]
        deq[m] = dequantize_module(_fill(templates[m], *flats), *steps[m])
    return deq


def _reconstruct(deq: dict, latents: list, config: ModelConfig, h: int, w: int, bit_depth: int) -> np.ndarray:
    """The decoder's output, quantized to the file's bit depth, as floats in [0, 1]."""
    rec = host_decoder.reconstruct(deq, latents, config, h, w)
    maxval = (1 << bit_depth) - 1
    return to_integers(rec, bit_depth).astype(np.float32) / maxval


def templates(config: ModelConfig, *dims: int) -> dict:
    """Shapes of the parameters of a model of this size (nothing allocated)."""
    return jax.eval_shape(lambda: model_for(config).init_params(jax.random.PRNGKey(0), config, *dims))


def _fill(template, w_flat: np.ndarray, b_flat: np.ndarray):
    """Integer pytree shaped like template, consuming weights/biases in split_groups order."""
    pos = {"w": 0, "b": 0}

    def take(path, leaf):
        kind = "b" if getattr(path[-1], "key", None) == "b" else "w"
        src = b_flat if kind == "b" else w_flat
        n = int(np.prod(leaf.shape))
        out = src[pos[kind] : pos[kind] + n].reshape(leaf.shape)
        pos[kind] += n
        return out

    return jax.tree_util.tree_map_with_path(take, template)


def decode(data: bytes, max_batch: int | None = None) -> tuple[np.ndarray, Header, dict]:
    """(reconstruction (C, H, W) floats on the bit-depth grid, header, timings and part sizes)."""
    t0 = time.perf_counter()
    header, ww, lw, parts = unpack(data)
    h, w, config = header.height, header.width, header.config
    try:
        deq = decode_weights(ww, templates(config, h, w), header.steps, header.codes)
        to_fixed, _, decode_grids = latent_coder(config)
        arm_fixed = to_fixed(deq["arm"])
        t1 = time.perf_counter()
        shapes = model_for(config).grid_shapes(config, h, w)
        latents = decode_grids(lw, arm_fixed, config, shapes, max_batch=max_batch)
        t2 = time.perf_counter()
    except BitstreamError:
        raise
    except Exception as e:  # constriction's checks on invalid data, out-of-range weights, ...
        raise BitstreamError(f"corrupt payload: {e}") from None
    rec = _reconstruct(deq, latents, config, h, w, header.bit_depth)
    t3 = time.perf_counter()
    info = {
        "bytes_by_part": parts,
        "weights_seconds": t1 - t0,
        "latents_seconds": t2 - t1,
        "synthesis_seconds": t3 - t2,
        "decode_seconds": t3 - t0,
    }
    return rec, header, info
