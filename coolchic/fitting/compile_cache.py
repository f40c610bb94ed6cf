"""A persistent cache of compiled executables for the command line.

Each `coolchic` process would otherwise compile its fitting steps again for every image (most of
a short encode's time on a CPU; README, "Speed"). JAX keys
the cache by program, compiler options, backend and versions, so a hit gives the same executable
and the same bitstream. COOLCHIC_COMPILE_CACHE=DIR picks the folder, =0 turns it off; a folder
set through JAX_COMPILATION_CACHE_DIR is left to JAX.
"""

from __future__ import annotations

import os

ENV = "COOLCHIC_COMPILE_CACHE"
MAX_BYTES = 1 << 30  # least recently used entries are evicted beyond this
MIN_COMPILE_SECONDS = 1.0  # cheaper programs are compiled again rather than stored


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "coolchic", "jax")


def enable() -> str | None:
    """Point JAX's persistent compilation cache at the configured folder; returns it (None when
    off or not writable, in which case everything still works, only slower to start)."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in {"0", "off", "no", "false"}:
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    directory = os.path.abspath(os.path.expanduser(setting or default_dir()))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return directory
