"""Overfitted neural image and video codecs (Cool-chic, C3) in JAX, with real bitstreams.

The handful of calls most users need::

    import coolchic
    img = coolchic.read_image("kodim01.png")
    data, report = coolchic.encode_image(img, coolchic.get_preset("c3-kodak").config, lmbda=1e-3, steps=2000)
    decoded, info = coolchic.decode_image(data)

Everything else lives in the subpackages: model (the JAX models behind one contract), fitting
(recipes and the compiled loop), coding (bitstreams), io, evaluation, cli.
"""

from coolchic.api.image import decode_image, encode_image, fit_image
from coolchic.api.video import decode_video, encode_video
from coolchic.config import ModelConfig, VideoConfig, causal_context
from coolchic.fitting.candidates import fit, fit_batch
from coolchic.fitting.recipes import RECIPES, get_recipe
from coolchic.io.image import Image, read_image, write_image
from coolchic.io.video import Video, read_video, write_video
from coolchic.model.macs import macs_per_pixel, video_macs_per_pixel
from coolchic.presets import PRESETS, get_preset
from coolchic.reports import DecodeReport, EncodeReport, FitReport, VideoEncodeReport

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "RECIPES",
    "DecodeReport",
    "EncodeReport",
    "FitReport",
    "Image",
    "ModelConfig",
    "Video",
    "VideoConfig",
    "VideoEncodeReport",
    "causal_context",
    "decode_image",
    "decode_video",
    "encode_image",
    "encode_video",
    "fit",
    "fit_batch",
    "fit_image",
    "get_preset",
    "get_recipe",
    "macs_per_pixel",
    "read_image",
    "read_video",
    "video_macs_per_pixel",
    "write_image",
    "write_video",
]
