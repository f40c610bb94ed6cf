import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared")
KODAK = os.path.join(SHARED, "data", "kodak")

# Reuse XLA executables across test runs on the same machine (CI starts empty, which is fine).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(REPO, ".pytest_cache", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free the compiled programs after a test module once the process holds many memory mappings:
    XLA's CPU executables each hold some, and the whole suite's programs in one process pass the
    kernel's limit (vm.max_map_count, 65530), after which LLVM fails ("Cannot allocate memory")
    and the process aborts. Clearing only then keeps the programs modules share."""
    yield
    try:
        with open("/proc/self/maps") as f:
            maps = sum(1 for _ in f)
    except OSError:
        return
    if maps > 20000:
        import jax

        jax.clear_caches()


def decode_in_fresh_process(path) -> np.ndarray:
    """The reconstruction of the .cool file at path, decoded by a new Python process."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json; from coolchic.coding import image_codec as c; "
        "r, h, _ = c.decode(open(sys.argv[1], 'rb').read()); print(json.dumps([r.shape, r.ravel().tolist()]))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    shape, values = json.loads(run.stdout)
    return np.array(values, np.float32).reshape(shape)


def leaves_close(a, b, atol):
    """Every leaf of pytree a within atol of b's (same structure)."""
    import jax

    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


def jaxpr_equations(jaxpr):
    """Every equation of a jaxpr, sub-jaxprs (loops, checkpoints, calls) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for p in eqn.params.values():
            for sub in p if isinstance(p, (list, tuple)) else [p]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from jaxpr_equations(inner)


def kodak_path(i: int) -> str:
    p = os.path.join(KODAK, f"kodim{i:02d}.png")
    if not os.path.exists(p):
        pytest.skip(f"Kodak image not found at {p} (../shared missing)")
    return p


@pytest.fixture(scope="session")
def kodak_crop():
    """(C, H, W) float32 crops of Kodak images, or a synthetic image when ../shared is absent."""
    from coolchic.io.image import read_image

    def crop(i: int = 1, h: int = 32, w: int = 32, y: int = 200, x: int = 300) -> np.ndarray:
        p = os.path.join(KODAK, f"kodim{i:02d}.png")
        if os.path.exists(p):
            return read_image(p).pixels[y : y + h, x : x + w].transpose(2, 0, 1).copy()
        rng = np.random.default_rng(i)
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = np.stack([np.sin(5 * yy + c) * np.cos(3 * xx) for c in range(3)]) * 0.4 + 0.5
        return (base + 0.02 * rng.standard_normal(base.shape)).clip(0, 1).astype(np.float32)

    return crop
