"""Flax ports of CompressAI's learned image codecs (Balle 2017/2018, Minnen 2018, Cheng 2020).

``from_compressai(name, state_dict)`` builds a model and its variables from a
CompressAI checkpoint; ``MODELS`` maps zoo names to the Flax classes;
``Codec(name, model, variables)`` writes/reads real bitstreams and ``train(...)``
trains a model on random crops. See ``python -m baselines --help`` for the command
line (parity check, MACs table, train, compress, decompress).
"""

from .bitstream import BitstreamError
from .coding import Codec, load_codec
from .compressai_import import from_compressai
from .models import MODELS
from .train import load_trained, train

__all__ = ["from_compressai", "MODELS", "Codec", "load_codec", "BitstreamError", "train", "load_trained"]
