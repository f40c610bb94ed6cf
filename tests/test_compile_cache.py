"""The command line's persistent compilation cache: where it goes, how it is turned off, and that
compiled programs really land in it."""

import os
import subprocess
import sys

import pytest

from coolchic import cli
from coolchic.fitting import compile_cache


@pytest.fixture
def no_jax_env(monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv(compile_cache.ENV, raising=False)


def test_off_unwritable_and_jax_setting_change_nothing(no_jax_env, monkeypatch, tmp_path):
    import jax

    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv(compile_cache.ENV, "0")
    assert compile_cache.enable() is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(compile_cache.ENV, str(blocker / "cache"))  # parent is a file
    assert compile_cache.enable() is None
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compile_cache.enable() == str(tmp_path / "jax")
    assert jax.config.jax_compilation_cache_dir == before


def test_default_folder_follows_xdg(no_jax_env, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.default_dir() == os.path.join(str(tmp_path), "coolchic", "jax")


def test_compiled_programs_are_stored(tmp_path):
    code = (
        "import jax, jax.numpy as jnp\n"
        "from coolchic.fitting import compile_cache\n"
        "compile_cache.MIN_COMPILE_SECONDS = 0\n"
        "print(compile_cache.enable())\n"
        "print(round(float(jax.jit(lambda x: jnp.sin(x) * 2)(jnp.float32(1))), 5))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env[compile_cache.ENV] = str(tmp_path / "cache")
    for _ in range(2):  # the second run reads what the first wrote
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [str(tmp_path / "cache"), "1.68294"]
        assert "Error" not in out.stderr
    assert any(name.startswith("jit_") for name in os.listdir(tmp_path / "cache"))


def test_only_compiling_commands_turn_it_on(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(compile_cache, "enable", lambda: calls.append(1))
    assert cli.main(["macs", "--preset", "fast"]) == 0
    assert calls == []
    assert cli.main(["encode", str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.cool")]) != 0
    assert calls == [1]
