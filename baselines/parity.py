"""Parity of the Flax ports with CompressAI fixtures (``shared/fixtures/compressai``).

A fixture ``NAME.npz`` holds the input ``x``, CompressAI's ``y``, ``z``,
``x_hat``, ``lik/y``, ``lik/z`` (NCHW) and the ``sd/*`` state_dict; its model
kwargs are in ``index.json`` next to it (inferred from weight shapes otherwise).
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from .compressai_import import from_compressai, infer_arch, normalize_keys
from .models import MODELS

__all__ = ["load_fixture", "compare", "parity_report", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-4
LIKELIHOOD_FLOOR = 1e-9  # denominators of relative errors (= the likelihood lower bound)


def load_fixture(path: str):
    """``(name, kwargs, arrays)`` of a fixture; raises FileNotFoundError / KeyError / ValueError."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"fixture not found: {path}")
    name = os.path.basename(path)
    if name.endswith(".npz"):
        name = name[: -len(".npz")]
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (from the file name); known: {', '.join(MODELS)}")
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile/pickle errors: report as bad input
        raise ValueError(f"cannot read {path}: {e}") from None
    if "x" not in arrays:
        raise ValueError(f"{path} has no input array 'x'")
    index = os.path.join(os.path.dirname(os.path.abspath(path)), "index.json")
    kwargs = None
    if os.path.isfile(index):
        with open(index) as f:
            kwargs = json.load(f).get(name, {}).get("kwargs")
    if kwargs is None:
        sd = normalize_keys({k[3:]: v for k, v in arrays.items() if k.startswith("sd/")})
        kwargs = infer_arch(name, sd)
    return name, dict(kwargs), arrays


def _nchw(a):
    return np.asarray(a).transpose(0, 3, 1, 2)


def compare(out: dict, arrays: dict) -> dict:
    """Max abs error of y, z, x_hat and max relative error of the likelihoods (None if absent)."""
    max_abs, max_rel = {}, {}
    for k in ("y", "z", "x_hat"):
        if k in arrays and out.get(k) is not None:
            max_abs[k] = float(np.abs(_nchw(out[k]) - arrays[k]).max())
        else:
            max_abs[k] = None
    for k in ("y", "z"):
        ref = arrays.get(f"lik/{k}")
        got = out["likelihoods"].get(k)
        if ref is None or got is None:
            max_rel[k] = None
            continue
        rel = np.abs(_nchw(got) - ref) / np.maximum(np.abs(ref), LIKELIHOOD_FLOOR)
        max_rel[k] = float(rel.max())
    return {"max_abs": max_abs, "max_rel_likelihood": max_rel}


def parity_report(path: str, tol: float = DEFAULT_TOL, jit: bool = True, _cache: dict | None = None) -> dict:
    """Run the port on a fixture and compare with CompressAI's outputs.

    Returns ``{"model", "kwargs", "max_abs": {y, z, x_hat}, "max_rel_likelihood":
    {y, z}, "tol", "pass"}``. Convolutions run at float32 ("highest") precision.
    """
    name, kwargs, arrays = load_fixture(path)
    sd = {k[3:]: v for k, v in arrays.items() if k.startswith("sd/")}
    model, variables = from_compressai(name, sd, **kwargs)
    x = jnp.asarray(np.asarray(arrays["x"], np.float32).transpose(0, 2, 3, 1))
    fn = lambda v, x: model.apply(v, x)
    if jit:
        fn = jax.jit(fn)
    with jax.default_matmul_precision("highest"):
        out = jax.tree.map(np.asarray, fn(variables, x))
    report = {"model": name, "kwargs": kwargs, **compare(out, arrays), "tol": tol}
    vals = [v for d in (report["max_abs"], report["max_rel_likelihood"]) for v in d.values() if v is not None]
    report["pass"] = bool(all(np.isfinite(v) and v <= tol for v in vals))
    if _cache is not None:
        _cache.update(model=model, variables=variables, out=out, arrays=arrays)
    return report
