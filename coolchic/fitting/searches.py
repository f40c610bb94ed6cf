"""Architecture searches by name: fit several architectures for one image, keep the best.

A search is `(image (C, H, W), config, recipe, lmbda, *, seeds, progress, prune) -> FitResult`.
C3's adaptive search registers itself as `c3-adaptive` through the `coolchic.searches` entry point.
"""

from __future__ import annotations

from coolchic.plugins import Registry

SEARCHES = Registry("coolchic.searches", "architecture search")
DEFAULT_SEARCH = "c3-adaptive"
