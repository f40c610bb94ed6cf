"""The shape of the library: no import cycles, plug-ins through registries (not import side
effects), one model contract, typed reports, the public face."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import coolchic
from coolchic.config import ModelConfig, VideoConfig
from coolchic.fitting.recipes import RECIPES, Recipe, coolchic_recipe, get_recipe
from coolchic.model import IMAGE_MODEL, VIDEO_MODEL, Model, model_for
from coolchic.plugins import PluginError, Registry
from coolchic.reports import EncodeReport, EvalRow

ROOT = os.path.join(os.path.dirname(__file__), "..")
CYCLES = os.path.join(ROOT, "..", "shared", "tools", "import_cycles.py")
STREAM = os.path.join(os.path.dirname(__file__), "data", "h100", "kodim02.cool")


def test_no_import_cycles_counting_function_level_imports():
    if not os.path.exists(CYCLES):
        pytest.skip("../shared/tools/import_cycles.py not found")
    out = subprocess.run(
        [sys.executable, CYCLES, ROOT, "coolchic", "c3", "baselines"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1].startswith("cycles: 0 "), out


def test_the_core_never_imports_c3_or_baselines():
    code = (
        "import sys, coolchic, coolchic.cli.main, coolchic.evaluation.runner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('c3', 'baselines')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_c3_comes_from_its_entry_point():
    import c3

    assert RECIPES["c3"] is c3.c3_recipe
    assert "c3" in RECIPES and "coolchic" in RECIPES and list(RECIPES) == sorted(RECIPES)
    assert isinstance(get_recipe("c3", 110), Recipe) and get_recipe("c3", 110).stages[0].steps == 100


def test_a_shadowing_c3_folder_breaks_only_the_c3_recipe_with_a_clear_error(tmp_path):
    """A package named c3 first on the path: the core and the coolchic recipe work, decoding works,
    and asking for the c3 recipe names the file found instead of ours."""
    (tmp_path / "c3").mkdir()
    (tmp_path / "c3" / "__init__.py").write_text("")
    (tmp_path / "c3" / "recipe.py").write_text("something_else = 1\n")
    code = (
        "import sys; from coolchic.fitting.recipes import get_recipe; get_recipe('coolchic', 10); "
        "from coolchic.api.image import decode_image; "
        "img, rep = decode_image(open(sys.argv[1], 'rb').read()); print(img.pixels.shape); "
        "get_recipe('c3', 10)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code, STREAM], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert "(512, 768, 3)" in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert "PluginError" in last and "c3.recipe" in last and str(tmp_path / "c3") in last


def test_registry_takes_local_entries_and_lists_unknown_names():
    reg = Registry("coolchic.recipes", "recipe")
    assert "c3" in reg  # the entry point, not loaded yet
    reg["mine"] = coolchic_recipe
    assert reg["mine"] is coolchic_recipe and "mine" in list(reg)
    with pytest.raises(ValueError, match=r"unknown recipe 'nope'; choose from \[.*'c3'.*'mine'"):
        reg.lookup("nope")
    del reg["mine"]
    assert "mine" not in reg
    bad = Registry("coolchic.nothing-here", "search")
    assert len(bad) == 0 and list(bad) == []
    with pytest.raises(KeyError):
        bad["x"]
    assert issubclass(PluginError, ValueError)


def test_one_model_contract_for_images_and_videos():
    assert model_for(ModelConfig()) is IMAGE_MODEL and model_for(VideoConfig()) is VIDEO_MODEL
    for m, dims in ((IMAGE_MODEL, (5, 9)), (VIDEO_MODEL, (3, 5, 9))):
        assert isinstance(m, Model) and m.n_dims == len(dims)
        config = ModelConfig(n_grids=3) if m is IMAGE_MODEL else VideoConfig(n_grids=3)
        shapes = m.grid_shapes(config, *dims)
        assert shapes[0] == dims and shapes[-1] == tuple(-(-d // 4) for d in dims)
        import jax

        params = jax.eval_shape(lambda m=m, config=config: m.init_params(jax.random.PRNGKey(0), config, *dims))
        assert [tuple(g.shape) for g in params["latents"]] == shapes
    with pytest.raises(TypeError, match="no model implements"):
        model_for(object())


def _encode_report(**kw):
    fields = {f.name: 0 for f in dataclasses.fields(EncodeReport)}
    fields.update(bytes_by_part={"header": 1}, candidates=[{"seed": 0}], recipe="c3", ms_ssim=None, **kw)
    fields.update({k: None for k in ("preset", "input", "output")})
    return EncodeReport(**{**fields, **kw})


def test_reports_are_typed_and_json_leaves_out_arrays_and_unset_names():
    rep = _encode_report(reconstruction=np.zeros((2, 3, 3), np.float32), bpp=np.float32(1.5))
    d = rep.to_json()
    assert "reconstruction" not in d and "preset" not in d and d["ms_ssim"] is None
    assert d["bpp"] == 1.5 and type(d["bpp"]) is float
    json.dumps(d)  # plain JSON types only
    rep.preset = "c3-kodak"
    assert rep.to_json()["preset"] == "c3-kodak"
    row_keys = [f.name for f in dataclasses.fields(EvalRow)]
    assert row_keys[:3] == ["image", "path", "lmbda"] and "decoded_matches_encoder" in row_keys


def test_public_face_exports_the_readme_calls():
    for name in coolchic.__all__:
        assert hasattr(coolchic, name), name
    for name in (
        "read_image",
        "write_image",
        "read_video",
        "write_video",
        "get_preset",
        "encode_image",
        "decode_image",
        "encode_video",
        "decode_video",
        "fit",
        "fit_image",
        "macs_per_pixel",
    ):
        assert callable(getattr(coolchic, name))


def test_every_config_survives_json_as_checkpoints_and_results_store_it():
    """A checkpoint's meta is compared after a JSON round trip: to_dict must already be JSON's
    (lists, not tuples) for every field, or resuming a fit refuses its own checkpoint."""
    from coolchic.presets import PRESETS, get_preset

    yuv = dataclasses.replace(get_preset("cc5-hop").config, colour="yuv420", output_range=((0.1, 0.9),) * 3)
    for config in [get_preset(name).config for name in PRESETS] + [yuv, VideoConfig()]:
        d = config.to_dict()
        assert json.loads(json.dumps(d)) == d, type(config).__name__
        assert type(config).from_dict(json.loads(json.dumps(d))) == config
