"""Helpers shared by the benchmark scripts (not a test module)."""

from __future__ import annotations

import json
import os
import platform

import jax

# ../shared beside the checkout; COOLCHIC_SHARED points elsewhere (e.g. a copy carried to a GPU machine).
SHARED = os.environ.get("COOLCHIC_SHARED") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"
)
KODAK = os.path.join(SHARED, "data", "kodak")


def kodak(i: int) -> str:
    return os.path.join(KODAK, f"kodim{i:02d}.png")


def machine() -> dict:
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
    }


def emit(result: dict, out: str | None) -> None:
    result = {**result, "_machine": machine()}
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
