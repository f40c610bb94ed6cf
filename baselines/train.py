"""Training of the learned baselines on random crops (CompressAI's recipe, in JAX).

* Data: every ``*.png`` (and ``.ppm``/``.pgm``) of a folder, loaded once (gray replicated to
  RGB; images smaller than the crop edge-padded). The crops of step ``s`` are drawn on
  the host with ``numpy.random.default_rng([seed, s])``, so a resumed run sees the same
  crops as an uninterrupted one (and the device rng is checkpointed: same result).
* Loss: ``lmbda * 255^2 * MSE + bpp`` (``bpp = sum(-log2 likelihoods) / (B*H*W)``),
  training-mode uniform-noise quantisation. Main parameters: Adam (``lr``, gradient
  norm clipped at ``clip``, as CompressAI's example); entropy-bottleneck ``quantiles``:
  a separate Adam (``aux_lr``) on the aux loss.
* Speed: ``steps_per_call`` steps run inside one jitted ``lax.scan`` over a stacked
  batch of crops; a shorter last chunk reuses the same compiled function (the unused
  steps are masked out), so nothing recompiles.
* Checkpoints (orbax): ``OUT/config.json`` (model, kwargs, hyper-parameters) and
  ``OUT/ckpt/<step>/`` with the items ``params`` and ``train`` (optimizer states, step,
  rng), every ``save_every`` steps and at the end. ``resume=True`` continues from the
  latest step and refuses a checkpoint of another model.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .models import MODELS, default_config

__all__ = ["train", "load_images", "sample_crops", "load_trained", "model_kwargs", "CONFIG_NAME"]

CONFIG_NAME = "config.json"
CKPT_SUBDIR = "ckpt"
FORMAT = "baselines-train-1"
_AR_MODELS = ("mbt2018", "cheng2020-anchor", "cheng2020-attn")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_images(data_dir: str, crop: int) -> list:
    """Float32 (H, W, 3) arrays of the images in ``data_dir`` (at least ``crop`` per side)."""
    from coolchic.io.image import read_image

    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    files = sorted(f for ext in ("png", "PNG", "ppm", "pgm") for f in glob.glob(os.path.join(data_dir, f"*.{ext}")))
    if not files:
        raise ValueError(f"no PNG/PPM images in {data_dir}")
    images = []
    for f in files:
        x = read_image(f).pixels
        if x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        ph, pw = max(0, crop - x.shape[0]), max(0, crop - x.shape[1])
        if ph or pw:
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge")
        images.append(np.ascontiguousarray(x, np.float32))
    return images


def sample_crops(images: list, rng: np.random.Generator, n: int, crop: int) -> np.ndarray:
    """``n`` random ``crop`` x ``crop`` crops (uniform image, uniform position) -> (n, crop, crop, 3)."""
    out = np.empty((n, crop, crop, 3), np.float32)
    which = rng.integers(0, len(images), size=n)
    for k, i in enumerate(which):
        img = images[i]
        top = rng.integers(0, img.shape[0] - crop + 1)
        left = rng.integers(0, img.shape[1] - crop + 1)
        out[k] = img[top : top + crop, left : left + crop]
    return out


# ---------------------------------------------------------------------------
# Model configuration and checkpoints
# ---------------------------------------------------------------------------


def model_kwargs(
    name: str, N: int | None = None, M: int | None = None, head: str | None = None, quality: int = 1
) -> dict:
    """Constructor kwargs: zoo configuration of ``quality`` overridden by ``N``/``M``/``head``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    kw = default_config(name, quality)
    if N is not None:
        kw["N"] = int(N)
    if M is not None:
        if name.startswith("cheng2020"):
            raise ValueError("cheng2020 models use M = N; do not pass M")
        kw["M"] = int(M)
    if head is not None and head != "gaussian":
        if name not in _AR_MODELS:
            raise ValueError(f"head {head!r} applies to {', '.join(_AR_MODELS)}, not {name}")
        kw["head"] = head
    return kw


def _read_config(out: str) -> dict | None:
    path = os.path.join(out, CONFIG_NAME)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        cfg = json.load(f)
    if cfg.get("format") != FORMAT:
        raise ValueError(f"{path} is not a baselines training checkpoint")
    return cfg


def _manager(out: str, create: bool = True):
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(max_to_keep=3, create=create, enable_async_checkpointing=False)
    return ocp.CheckpointManager(
        os.path.join(os.path.abspath(out), CKPT_SUBDIR), options=opts, item_names=("params", "train")
    )


def _latest_step(out: str) -> int | None:
    """Latest committed step under ``OUT/ckpt`` (None when there is none)."""
    d = os.path.join(out, CKPT_SUBDIR)
    if not os.path.isdir(d):
        return None
    steps = [int(n) for n in os.listdir(d) if n.isdigit()]
    return max(steps) if steps else None


@functools.lru_cache(maxsize=8)
def _jitted_init(model):
    return jax.jit(lambda key: model.init(key, jnp.zeros((1, 64, 64, 3), jnp.float32))["params"])


def _init_params(model, seed: int):
    return _jitted_init(model)(jax.random.key(seed))


def load_trained(ckpt_dir: str, step: int | None = None):
    """``(name, model, {"params": ...}, config)`` from a training output folder (latest step by default)."""
    import orbax.checkpoint as ocp

    cfg = _read_config(ckpt_dir)
    if cfg is None:
        raise FileNotFoundError(f"no training checkpoint in {ckpt_dir} ({CONFIG_NAME} missing)")
    name = cfg["model"]
    if name not in MODELS:
        raise ValueError(f"checkpoint {ckpt_dir} names unknown model {name!r}")
    model = MODELS[name](**cfg["kwargs"])
    mgr = _manager(ckpt_dir, create=False)
    step = mgr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no saved step in {ckpt_dir}")
    target = jax.eval_shape(lambda: _init_params(model, 0))
    restored = mgr.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(target)))
    mgr.close()
    return name, model, {"params": restored["params"]}, cfg


# ---------------------------------------------------------------------------
# The compiled steps
# ---------------------------------------------------------------------------


def _m_aux(m):
    return m.aux_loss()


def _labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda p, _: "aux" if getattr(p[-1], "key", None) == "quantiles" else "main", params
    )


def make_optimizers(lr: float, aux_lr: float = 1e-3, clip: float | None = 1.0):
    """``(main, aux)`` optax transforms: each updates only its partition (the other gets zeros)."""
    main = optax.adam(lr) if not clip else optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))
    tx_main = optax.multi_transform({"main": main, "aux": optax.set_to_zero()}, _labels)
    tx_aux = optax.multi_transform({"main": optax.set_to_zero(), "aux": optax.adam(aux_lr)}, _labels)
    return tx_main, tx_aux


@functools.lru_cache(maxsize=8)
def make_chunk_fn(model, lmbda: float, lr: float, aux_lr: float = 1e-3, clip: float | None = 1.0):
    """Jitted ``(state, crops (K, B, h, w, 3), n_active) -> (state, metrics (4, K))``.

    Metrics rows: loss, bpp, mse, aux loss; steps ``>= n_active`` leave the state unchanged.
    Cached per (model, hyper-parameters), so a resumed run in the same process reuses it.
    """
    tx_main, tx_aux = make_optimizers(lr, aux_lr, clip)

    def loss_fn(params, x, key):
        out = model.apply({"params": params}, x, training=True, rngs={"noise": key})
        n, h, w, _ = x.shape
        bpp = sum(jnp.sum(-jnp.log2(l)) for l in out["likelihoods"].values()) / (n * h * w)
        mse = jnp.mean((out["x_hat"] - x) ** 2)
        return lmbda * 255.0**2 * mse + bpp, (bpp, mse)

    def aux_fn(params):
        return model.apply({"params": params}, method=_m_aux)

    def step(state, inp):
        x, active = inp
        key, sub = jax.random.split(state["rng"])
        params = state["params"]
        (loss, (bpp, mse)), g = jax.value_and_grad(loss_fn, has_aux=True)(params, x, sub)
        aux, ga = jax.value_and_grad(aux_fn)(params)
        um, om = tx_main.update(g, state["opt_main"], params)
        ua, oa = tx_aux.update(ga, state["opt_aux"], params)
        params = optax.apply_updates(optax.apply_updates(params, um), ua)
        new = {"params": params, "opt_main": om, "opt_aux": oa, "step": state["step"] + 1, "rng": key}
        new = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, state)
        return new, jnp.stack([loss, bpp, mse, aux])

    def chunk(state, xs, n_active):
        active = jnp.arange(xs.shape[0]) < n_active
        state, metrics = jax.lax.scan(step, state, (xs, active))
        return state, metrics.T

    return jax.jit(chunk, donate_argnums=0)


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def _check_args(steps: int, crop: int, batch: int, steps_per_call: int, save_every: int) -> None:
    """Reject sizes the crop sampler, the models' stride 16 or the chunk loop cannot handle."""
    if steps < 0 or crop < 64 or crop % 16 or batch < 1 or steps_per_call < 1 or save_every < 1:
        raise ValueError("need steps >= 0, crop a multiple of 16 and >= 64, batch/steps_per_call/save_every >= 1")


def _resolve_model(model: str, out: str, resume: bool, N: int | None, M: int | None, head: str | None, quality: int):
    """``(saved config or None, constructor kwargs)`` for ``model`` in the folder ``out``.

    A folder with saved steps must be resumed, hold its config and be for the same model
    (and any ``N``/``M``/``head`` asked must match it); otherwise the kwargs come from the zoo.
    """
    saved = _read_config(out) if _latest_step(out) is not None else None  # config alone: a run that never saved
    if saved is None and _latest_step(out) is not None:
        raise ValueError(f"{out} holds checkpoints without {CONFIG_NAME}; use another --out")
    if saved is not None and not resume:
        raise ValueError(f"{out} already holds a training checkpoint; pass --resume or use another --out")
    if resume and saved is None:
        raise FileNotFoundError(f"nothing to resume: no training checkpoint in {out}")
    if saved is None:
        return None, model_kwargs(model, N, M, head, quality)
    if saved["model"] != model:
        raise ValueError(f"checkpoint in {out} is for model {saved['model']}, not {model}")
    kw = dict(saved["kwargs"])
    asked = {"N": N, "M": M, "head": head}
    for k, v in asked.items():
        if v is not None and kw.get(k, "gaussian" if k == "head" else None) != v:
            raise ValueError(f"checkpoint in {out} is for {model} with {kw}, not {k}={v}")
    return saved, kw


def _fresh_state(net, seed: int, tx_main, tx_aux) -> dict:
    """Step-0 training state: parameters from ``seed``, noise rng from ``seed + 1``."""
    params = _init_params(net, seed)
    return {
        "params": params,
        "opt_main": tx_main.init(params),
        "opt_aux": tx_aux.init(params),
        "step": jnp.int32(0),
        "rng": jax.random.PRNGKey(seed + 1),
    }


def _train_part(s: dict) -> dict:
    """The checkpoint item ``train``: everything of the state but the parameters."""
    return {k: s[k] for k in ("opt_main", "opt_aux", "step", "rng")}


def _restore_state(mgr, net, seed: int, tx_main, tx_aux) -> dict:
    """The training state of the latest step saved by ``mgr`` (shapes from a fresh state)."""
    import orbax.checkpoint as ocp

    abstract = jax.eval_shape(lambda: _fresh_state(net, seed, tx_main, tx_aux))
    restored = mgr.restore(
        mgr.latest_step(),
        args=ocp.args.Composite(
            params=ocp.args.StandardRestore(abstract["params"]),
            train=ocp.args.StandardRestore(_train_part(abstract)),
        ),
    )
    # Through host memory: restored arrays carry an explicit sharding that would
    # make the cached chunk function recompile.
    return jax.tree.map(jnp.asarray, jax.device_get({"params": restored["params"], **restored["train"]}))


def _write_config(out: str, cfg: dict) -> None:
    """Write ``OUT/config.json`` atomically, with the permissions a plain ``open`` would give."""
    from coolchic.io.files import atomic_write

    def _w(tmp):
        with open(tmp, "w") as f:
            json.dump(cfg, f, indent=1)

    os.makedirs(out, exist_ok=True)
    atomic_write(os.path.join(out, CONFIG_NAME), _w, force=True)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(os.path.join(out, CONFIG_NAME), 0o666 & ~mask)


def _save(mgr, s: dict) -> None:
    """Checkpoint state ``s`` under its step (items ``params`` and ``train``)."""
    import orbax.checkpoint as ocp

    mgr.save(
        int(s["step"]),
        args=ocp.args.Composite(params=ocp.args.StandardSave(s["params"]), train=ocp.args.StandardSave(_train_part(s))),
        force=True,
    )


def _progress_bar(progress: bool, steps: int, start: int):
    """A tqdm bar over the run's ``steps`` starting at ``start`` (None without ``progress``)."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, initial=min(start, steps), unit="step", dynamic_ncols=True)


def _chunk_crops(images: list, seed: int, step: int, n: int, K: int, batch: int, crop: int) -> np.ndarray:
    """(K, batch, crop, crop, 3) crops of steps ``step .. step+n-1`` (zeros past ``n``).

    Each step's rng depends on ``(seed, step)`` only, so resumed runs see the same crops.
    """
    xs = np.zeros((K, batch, crop, crop, 3), np.float32)
    for k in range(n):
        xs[k] = sample_crops(images, np.random.default_rng([seed, step + k]), batch, crop)
    return xs


def _show(bar, metrics: np.ndarray, n: int) -> None:
    """Advance ``bar`` by ``n`` steps, showing the chunk's mean loss, bpp and PSNR."""
    loss, bpp, mse = metrics[:3].mean(1)
    bar.set_postfix_str(f"loss={loss:.4f} bpp={bpp:.4f} psnr={-10 * np.log10(max(mse, 1e-12)):.2f}")
    bar.update(n)


def _run_steps(
    run,
    state: dict,
    mgr,
    bar,
    images: list,
    *,
    start: int,
    steps: int,
    batch: int,
    crop: int,
    seed: int,
    steps_per_call: int,
    save_every: int,
):
    """Run steps ``start .. steps-1`` in chunks of ``steps_per_call`` -> ``(state, history)``.

    A chunk never crosses a multiple of ``save_every``, where (and at the end) the state is saved.
    """
    history, step = [], start
    K = steps_per_call
    while step < steps:
        n = min(K, steps - step, save_every - step % save_every)
        xs = _chunk_crops(images, seed, step, n, K, batch, crop)
        state, metrics = run(state, jnp.asarray(xs), jnp.int32(n))
        metrics = np.asarray(metrics)[:, :n]
        for k in range(n):
            history.append((step + k + 1, *map(float, metrics[:, k])))
        step += n
        if bar is not None:
            _show(bar, metrics, n)
        if step % save_every == 0 or step == steps:
            _save(mgr, state)
    return state, history


def _finish(mgr, bar, state: dict) -> None:
    """Close the bar, save the final state unless it already is, and close the manager."""
    if bar is not None:
        bar.close()
    if mgr.latest_step() != int(state["step"]):
        _save(mgr, state)
    mgr.wait_until_finished()
    mgr.close()


def train(
    model: str,
    data: str,
    lmbda: float,
    steps: int,
    out: str,
    *,
    crop: int = 256,
    batch: int = 8,
    lr: float = 1e-4,
    aux_lr: float = 1e-3,
    clip: float | None = 1.0,
    seed: int = 0,
    resume: bool = False,
    head: str | None = None,
    N: int | None = None,
    M: int | None = None,
    quality: int = 1,
    steps_per_call: int = 10,
    save_every: int = 1000,
    progress: bool = True,
) -> dict:
    """Train ``model`` for ``steps`` steps in total (``resume``: counted from step 0 of the run).

    Returns ``{"step", "start_step", "history": [(step, loss, bpp, mse, aux)], "seconds",
    "out"}``. Raises ``ValueError``/``FileNotFoundError``/``KeyError`` on bad input
    (existing checkpoint without ``resume``, checkpoint of another model, no images ...).
    """
    import orbax.checkpoint  # noqa: F401  (a missing orbax fails here, before any check or write)

    _check_args(steps, crop, batch, steps_per_call, save_every)
    out = os.path.abspath(out)
    saved, kw = _resolve_model(model, out, resume, N, M, head, quality)
    net = MODELS[model](**kw)
    tx_main, tx_aux = make_optimizers(lr, aux_lr, clip)
    if saved is not None:
        mgr = _manager(out)
        state = _restore_state(mgr, net, seed, tx_main, tx_aux)
        images = load_images(data, crop) if int(state["step"]) < steps else []
    else:
        images = load_images(data, crop) if steps > 0 else []  # before writing anything
        state = _fresh_state(net, seed, tx_main, tx_aux)
        _write_config(
            out,
            {
                "format": FORMAT,
                "model": model,
                "kwargs": kw,
                "lmbda": lmbda,
                "crop": crop,
                "batch": batch,
                "lr": lr,
                "aux_lr": aux_lr,
                "clip": clip,
                "seed": seed,
            },
        )
        mgr = _manager(out)

    start = int(state["step"])
    run = make_chunk_fn(net, float(lmbda), float(lr), float(aux_lr), clip)
    bar = _progress_bar(progress, steps, start)
    t0 = time.perf_counter()
    state, history = _run_steps(
        run,
        state,
        mgr,
        bar,
        images,
        start=start,
        steps=steps,
        batch=batch,
        crop=crop,
        seed=seed,
        steps_per_call=steps_per_call,
        save_every=save_every,
    )
    _finish(mgr, bar, state)
    return {
        "step": int(state["step"]),
        "start_step": start,
        "history": history,
        "seconds": time.perf_counter() - t0,
        "out": out,
    }
