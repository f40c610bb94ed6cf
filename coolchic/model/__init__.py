"""Training-side JAX models, pure functions over parameter pytrees, behind one contract.

`model_for(config)` gives the `Model` (coolchic.model.contract) that implements a configuration:
the image model for a ModelConfig, the video model for a VideoConfig, Cool-chic 5's decoder
for a CoolChic5Config.
"""

from __future__ import annotations

from coolchic.config import CoolChic5Config, ModelConfig, VideoConfig
from coolchic.model.contract import Model, network_params
from coolchic.model.coolchic5 import COOLCHIC5_MODEL
from coolchic.model.image import IMAGE_MODEL
from coolchic.model.video import VIDEO_MODEL

# Most specific configuration class first: a VideoConfig is also a ModelConfig.
_MODELS: tuple[tuple[type, Model], ...] = (
    (VideoConfig, VIDEO_MODEL),
    (CoolChic5Config, COOLCHIC5_MODEL),
    (ModelConfig, IMAGE_MODEL),
)


def model_for(config: ModelConfig) -> Model:
    """The model family that implements `config`."""
    for cls, model in _MODELS:
        if isinstance(config, cls):
            return model
    raise TypeError(f"no model implements {type(config).__name__}")


__all__ = ["COOLCHIC5_MODEL", "IMAGE_MODEL", "VIDEO_MODEL", "Model", "model_for", "network_params"]
