"""Load CompressAI ``state_dict``s into the Flax ports.

The Flax modules keep CompressAI's names and PyTorch weight layouts, so a key
such as ``g_s.1.subpel_conv.0.weight`` is the parameter at
``params["g_s"]["1"]["subpel_conv"]["0"]["weight"]``; only the entropy
bottleneck's ``matrices.i`` / ``biases.i`` / ``factors.i`` become
``matrices_i`` ... Buffers (GDN pedestals and bounds, masks, CDF tables, scale
table, likelihood bounds) are not parameters: they are checked against the
constants the Flax model uses, so a checkpoint built with other settings fails
loudly instead of silently diverging.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from .entropy_models import get_scale_table
from .layers import REPARAM_OFFSET, type_a_mask
from .models import MODELS

__all__ = [
    "from_compressai",
    "compressai_cdf_tables",
    "normalize_keys",
    "infer_arch",
    "flax_key_to_torch",
    "to_compressai",
]

_EB_RE = re.compile(r"^entropy_bottleneck\._?(matrix|matrices|bias|biases|factor|factors)\.?(\d+)$")
_EB_CANON = {"matrix": "matrices", "bias": "biases", "factor": "factors"}

_BUFFER_SUFFIXES = (
    ".pedestal",
    ".lower_bound.bound",
    "._offset",
    "._quantized_cdf",
    "._cdf_length",
    ".target",
    ".likelihood_lower_bound.bound",
    ".scale_table",
    ".scale_bound",
    ".lower_bound_scale.bound",
    ".mask",
)


def _rename(key: str) -> str:
    """CompressAI ``zoo.pretrained.rename_key`` plus the older bottleneck spellings."""
    for prefix in ("sd/", "module."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    if ".downsample." in key:
        key = key.replace("downsample", "skip")
    m = _EB_RE.match(key)
    if m:
        kind = _EB_CANON.get(m.group(1), m.group(1))
        key = f"entropy_bottleneck.{kind}.{m.group(2)}"
    return key


def normalize_keys(state_dict: Mapping[str, Any]) -> dict:
    """Canonical CompressAI 1.2.x keys -> float/int numpy arrays."""
    out = {}
    for k, v in state_dict.items():
        if hasattr(v, "detach"):  # torch tensor
            v = v.detach().cpu().numpy()
        out[_rename(k)] = np.asarray(v)
    return out


def flax_key_to_torch(path) -> str:
    """Flax parameter path (tuple) -> CompressAI state_dict key."""
    key = ".".join(path)
    return re.sub(r"\.(matrices|biases|factors)_(\d+)$", r".\1.\2", key)


def infer_arch(name: str, sd: Mapping[str, np.ndarray]) -> dict:
    """``N``/``M`` from weight shapes (as CompressAI's ``from_state_dict``)."""
    if name.startswith("cheng2020"):
        return {"N": int(sd["g_a.0.conv1.weight"].shape[0])}
    return {"N": int(sd["g_a.0.weight"].shape[0]), "M": int(sd["g_a.6.weight"].shape[0])}


def _load_path(path: str) -> dict:
    try:
        import torch  # noqa: F401  (optional dependency)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"loading {path!r} needs PyTorch (pip install 'coolchic-jax[torch]'); "
            "or pass the state_dict as a dict of numpy arrays"
        ) from e
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(ckpt, Mapping):
        for k in ("state_dict", "model_state_dict", "model"):
            if k in ckpt and isinstance(ckpt[k], Mapping):
                ckpt = ckpt[k]
                break
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"{path!r} does not contain a state_dict")
    return dict(ckpt)


def _check_close(errors, key, got, want, rtol=1e-6):
    got = np.asarray(got, np.float64).ravel()
    want = np.asarray(want, np.float64).ravel()
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=0):
        errors.append(f"buffer {key} = {got[:4]} differs from the port's constant {want[:4]}")


def _check_buffers(sd: Mapping[str, np.ndarray]) -> None:
    errors: list[str] = []
    ped = np.float32(REPARAM_OFFSET**2)
    for key, val in sd.items():
        if key.endswith(".pedestal"):
            _check_close(errors, key, val, [ped])
        elif key.endswith("beta_reparam.lower_bound.bound"):
            _check_close(errors, key, val, [np.float32((1e-6 + REPARAM_OFFSET**2) ** 0.5)])
        elif key.endswith("gamma_reparam.lower_bound.bound"):
            _check_close(errors, key, val, [np.float32(REPARAM_OFFSET)])
        elif key.endswith("likelihood_lower_bound.bound"):
            _check_close(errors, key, val, [1e-9])
        elif key.endswith("lower_bound_scale.bound") or key.endswith(".scale_bound"):
            _check_close(errors, key, val, [0.11])
        elif key.endswith(".scale_table") and np.asarray(val).size:
            _check_close(errors, key, val, get_scale_table(), rtol=1e-5)
        elif key.endswith("entropy_bottleneck.target"):
            t = math.log(2 / 1e-9 - 1)
            _check_close(errors, key, val, [-t, 0.0, t])
        elif key.endswith(".mask"):
            m = np.asarray(val)
            want = np.broadcast_to(type_a_mask(m.shape[-1], "A"), m.shape)
            if not np.array_equal(m, want):
                errors.append(f"buffer {key} is not a type-A causal mask")
    if errors:
        raise ValueError("unsupported CompressAI buffers:\n  " + "\n  ".join(errors))


def from_compressai(name: str, state_dict, **arch):
    """Build the Flax model ``name`` and its variables from a CompressAI ``state_dict``.

    ``state_dict``: mapping of CompressAI keys (optionally ``sd/``- or
    ``module.``-prefixed) to numpy arrays (or torch tensors), or a path to a
    ``.pth``/``.pth.tar`` checkpoint (needs PyTorch). ``arch``: constructor
    kwargs (``N``, ``M``); inferred from the weights when omitted.
    Returns ``(model, {"params": ...})``. Raises ``KeyError`` for an unknown
    model and ``ValueError`` for missing/unexpected/mis-shaped tensors.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = _load_path(os.fspath(state_dict))
    sd = normalize_keys(state_dict)
    if not arch:
        arch = infer_arch(name, sd)
    if arch.get("head", "gaussian") != "gaussian":
        raise ValueError("CompressAI checkpoints have a single-Gaussian head; use head='gaussian'")
    model = MODELS[name](**arch)

    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    shapes = jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape, x.dtype)), jax.random.key(0))
    flat = traverse_util.flatten_dict(shapes["params"])

    params, missing, bad_shape, used = {}, [], [], set()
    for path, leaf in flat.items():
        key = flax_key_to_torch(path)
        if key not in sd:
            missing.append(key)
            continue
        arr = sd[key]
        used.add(key)
        if tuple(arr.shape) != tuple(leaf.shape):
            bad_shape.append(f"{key}: checkpoint {tuple(arr.shape)} vs model {tuple(leaf.shape)}")
            continue
        params[path] = jnp.asarray(arr, dtype=leaf.dtype)
    unexpected = [k for k in sd if k not in used and not k.endswith(_BUFFER_SUFFIXES)]
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected: " + ", ".join(unexpected))
    if bad_shape:
        problems.append("shape mismatch: " + "; ".join(bad_shape))
    if problems:
        raise ValueError(f"state_dict does not fit {name}({arch}): " + " | ".join(problems))
    _check_buffers(sd)
    return model, {"params": traverse_util.unflatten_dict(params)}


def to_compressai(variables) -> dict:
    """Inverse mapping: Flax ``params`` -> CompressAI parameter keys (numpy, no buffers)."""
    flat = traverse_util.flatten_dict(variables["params"])
    return {flax_key_to_torch(p): np.asarray(v) for p, v in flat.items()}


def compressai_cdf_tables(state_dict) -> dict:
    """The coding tables stored in a CompressAI checkpoint (filled by its ``update()``).

    Returns ``{"entropy_bottleneck": {...}, "gaussian_conditional": {...}}`` with
    ``quantized_cdf``, ``cdf_length``, ``offset`` (and ``scale_table``), for
    entities present and non-empty. Our own tables (``quantized_cdfs()`` of the
    entropy models) are computed in float64 and may differ from these float32
    PyTorch tables by a few units in 2**16; use these to interoperate with
    CompressAI bitstreams.
    """
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = _load_path(os.fspath(state_dict))
    sd = normalize_keys(state_dict)
    out = {}
    for ent in ("entropy_bottleneck", "gaussian_conditional"):
        t = {}
        for name in ("quantized_cdf", "cdf_length", "offset", "scale_table"):
            key = f"{ent}._{name}" if name != "scale_table" else f"{ent}.{name}"
            if key in sd and sd[key].size:
                t[name] = np.asarray(sd[key])
        if t:
            out[ent] = t
    return out
