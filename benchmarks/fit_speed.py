"""Seconds per fitting step (after compilation) and compile time, per preset, on a full image.

    python benchmarks/fit_speed.py [IMAGE] [--presets c3-kodak mac-2000 cc5-hop] [--recipe coolchic]
                                   [--steps 20] [--out F.json]

Prints one JSON object {preset: {"seconds_per_step", "compile_seconds", "split": {...}}}. Steps are
those of the recipe's longest stage (the Cool-chic recipe's: uniform noise and Adam, as in the
split; the coolchic5 recipe's main stage: soft-rounding, noise and SOAP); compile_seconds is the
one compile of that recipe's step, all stages in one executable (see coolchic.fitting.step.chunk_fn). The
split times each part of the step on its own (forward+backward of the ARM rate, of the upsampling,
of the synthesis; the optimizer as the full step minus the gradient), so the sum is approximate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from coolchic.config import CoolChic5Config
from coolchic.fitting.quantizers import uniform_noise
from coolchic.fitting.recipes import get_recipe
from coolchic.fitting.step import chunk_fn, init_state, loss_terms, stack
from coolchic.io.image import read_image
from coolchic.model import coolchic5, image, model_for
from coolchic.model.synthesis import squared_error
from coolchic.presets import get_preset

DEFAULT_IMAGE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "kodak", "kodim01.png")


def _median_time(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def bench_preset(name: str, pixels: np.ndarray, steps: int, recipe: str = "coolchic") -> dict:
    config = get_preset(name).config
    model = model_for(config)
    features = (coolchic5 if isinstance(config, CoolChic5Config) else image).features
    c, h, w = pixels.shape
    x = jnp.asarray(pixels)
    stages = get_recipe(recipe, 10**6, 1e-3).stages
    stage = max(range(len(stages)), key=lambda i: stages[i].steps)
    params = model.init_params(jax.random.PRNGKey(0), config, h, w)
    state = jax.vmap(lambda p, k: init_state(p, stages[stage], k))(stack([params]), jnp.stack([jax.random.PRNGKey(1)]))
    run = chunk_fn(config, stages)
    lm = jnp.float32(1e-3)
    t0 = time.perf_counter()
    total = jnp.int32(10**6)
    at = jnp.int32(stage)
    state = jax.block_until_ready(run(state, jnp.int32(1), x, lm, total, at))
    compile_s = time.perf_counter() - t0
    per_chunk = []
    for _ in range(5):
        t = time.perf_counter()
        state = jax.block_until_ready(run(state, jnp.int32(steps), x, lm, total, at))
        per_chunk.append((time.perf_counter() - t) / steps)
    sps = float(np.median(per_chunk))

    # Split: each part forward+backward on its own.
    p = jax.tree.map(lambda a: a[0], state.params)
    q = uniform_noise(p["latents"], jax.random.PRNGKey(2), 0.0)
    arm = jax.jit(jax.value_and_grad(lambda p, q: model.rate_bits(p, q, config), argnums=(0, 1)))
    up = jax.jit(jax.value_and_grad(lambda p, q: jnp.sum(features(p, q, config, h, w) ** 2), argnums=(0, 1)))
    f = features(p, q, config, h, w)
    syn = jax.jit(jax.value_and_grad(lambda s, f: squared_error(s, f, x, config), argnums=(0, 1)))
    grad = jax.jit(
        jax.value_and_grad(
            lambda p: loss_terms(p, uniform_noise(p["latents"], jax.random.PRNGKey(2), 0.0), config, x, lm)[0]
        )
    )
    fwd = jax.jit(lambda p: loss_terms(p, uniform_noise(p["latents"], jax.random.PRNGKey(2), 0.0), config, x, lm)[0])
    split = {
        "arm_fwd_bwd": _median_time(arm, p, q),
        "upsampling_fwd_bwd": _median_time(up, p, q),
        "synthesis_fwd_bwd": _median_time(syn, p["synthesis"], f),
        "forward_total": _median_time(fwd, p),
        "gradient_total": _median_time(grad, p),
    }
    split["optimizer_and_loop"] = max(sps - split["gradient_total"], 0.0)
    split["backward_total"] = split["gradient_total"] - split["forward_total"]
    return {
        "recipe": recipe,
        "stage": stages[stage].name,
        "seconds_per_step": sps,
        "compile_seconds": compile_s,
        "steps_per_call": steps,
        "height": h,
        "width": w,
        "split_seconds": split,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", default=DEFAULT_IMAGE)
    ap.add_argument("--presets", nargs="+", default=["c3-kodak", "mac-2000"])
    ap.add_argument("--recipe", default="coolchic", help="time the longest stage of this recipe")
    ap.add_argument("--steps", type=int, default=20, help="steps per compiled call while timing")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    if not os.path.exists(args.image):
        print(f"image not found: {args.image}", file=sys.stderr)
        return 1
    img = read_image(args.image).pixels.transpose(2, 0, 1).copy()
    res = {name: bench_preset(name, img, args.steps, args.recipe) for name in args.presets}
    res["_machine"] = {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
    }
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
