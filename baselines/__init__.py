"""Flax ports of CompressAI's learned image codecs (Balle 2017/2018, Minnen 2018, Cheng 2020).

``from_compressai(name, state_dict)`` builds a model and its variables from a
CompressAI checkpoint; ``MODELS`` maps zoo names to the Flax classes. See
``python -m baselines --help`` for the command line (parity check, MACs table).
"""

from .compressai_import import from_compressai
from .models import MODELS

__all__ = ["from_compressai", "MODELS"]
