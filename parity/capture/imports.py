"""Post-import hooks: a function runs on a module right after the program imports it, so a capture patches only
the libraries the program itself loads (a Keras program never loads torch on parity's account)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Callable


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the hooks."""

    def __init__(self, loader, name: str):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for hook in _FINDER.hooks.pop(self._name, []):
            hook(module)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.hooks: dict[str, list[Callable]] = {}
        self._finding: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if name not in self.hooks or name in self._finding:
            return None
        self._finding.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        # the hooks are taken when the module runs, not here: a library may look a module up without importing it
        spec.loader = _Loader(spec.loader, name)
        return spec


_FINDER = _Finder()


def when_imported(name: str, hook: Callable) -> None:
    """Run `hook(module)` once module `name` is imported: now if it already is, else right after its import."""
    if name in sys.modules:
        hook(sys.modules[name])
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _FINDER.hooks.setdefault(name, []).append(hook)
