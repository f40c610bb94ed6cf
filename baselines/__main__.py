"""``python -m baselines``: see :mod:`baselines.cli`."""

from .cli import main

raise SystemExit(main())
