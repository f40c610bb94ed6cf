"""Registries that other packages fill through entry points, without coolchic importing them.

The C3 recipe and its adaptive search live in the `c3` package; they reach coolchic through the
entry-point groups declared in pyproject.toml (`coolchic.recipes`, `coolchic.searches`), loaded
only when asked for by name. coolchic itself never imports `c3` or `baselines`, so a foreign
module of that name on the path cannot change what the core does; if one shadows a plug-in that
is asked for, the error names the file that was found instead.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Iterator, MutableMapping


class PluginError(ValueError):
    """A registered name that cannot be loaded (missing or shadowed package)."""


def _origin(module: str) -> str:
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    return "nothing" if spec is None else (spec.origin or "a namespace package")


class Registry(MutableMapping):
    """name -> object: entries registered in this process, then the entry points of `group`
    (loaded on first use). `registry[name] = obj` registers (e.g. a recipe in a notebook)."""

    def __init__(self, group: str, what: str):
        self.group, self.what = group, what
        self._local: dict[str, object] = {}

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=self.group)}

    def __getitem__(self, name: str):
        if name in self._local:
            return self._local[name]
        ep = self._entry_points().get(name)
        if ep is None:
            raise KeyError(name)
        try:
            obj = ep.load()
        except (ImportError, AttributeError) as e:
            module = ep.value.split(":")[0]
            raise PluginError(
                f"{self.what} {name!r} comes from {ep.value}, which cannot be loaded ({e}); "
                f"the module {module.split('.')[0]!r} found is {_origin(module)} "
                "(another package or folder of that name may shadow coolchic-jax's)"
            ) from None
        self._local[name] = obj
        return obj

    def __setitem__(self, name: str, obj) -> None:
        self._local[name] = obj

    def __delitem__(self, name: str) -> None:
        del self._local[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self._local) | set(self._entry_points())))

    def __len__(self) -> int:
        return len(set(self._local) | set(self._entry_points()))

    def __contains__(self, name) -> bool:
        return name in self._local or name in self._entry_points()

    def register(self, name: str) -> Callable:
        """Decorator form: `@REGISTRY.register("name")`."""

        def put(obj):
            self[name] = obj
            return obj

        return put

    def lookup(self, name: str):
        """registry[name], with a ValueError listing the known names when it is unknown."""
        if name not in self:
            raise ValueError(f"unknown {self.what} {name!r}; choose from {sorted(self)}")
        return self[name]
