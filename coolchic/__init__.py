"""Overfitted neural image codecs (Cool-chic, C3) in JAX, with real bitstreams."""

__version__ = "0.1.0"
