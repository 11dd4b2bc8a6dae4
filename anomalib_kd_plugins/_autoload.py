"""Lazy post-import hooks, installed by ``anomalib_kd_plugins_autoload.pth`` at interpreter start.

They cost a few standard-library imports: torch and anomalib are untouched until someone imports them.

* Right after ``anomalib.models`` has executed, :func:`anomalib_kd_plugins.registry.register_all` publishes every
  ``anomalib.models`` entry point on it, so the stock ``anomalib train --model Adps`` works.
* Right after ``anomalib.engine.engine`` has executed, :func:`anomalib_kd_plugins.registry.guard_engine` makes the
  Engine check an output folder that cannot be written before it creates it, for this package's models only.

Turn both off with ``ANOMALIB_KD_PLUGINS_AUTOLOAD=0``.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

# No importlib.abc (it drags in importlib.resources, tempfile, pathlib, shutil: ~20 ms at every interpreter start):
# the import protocol is duck-typed, so plain classes with the right methods suffice.

_OFF_VALUES = {"0", "false", "no", "off"}


class _HookedLoader:
    """Wrap the real loader of a module and call a ``registry`` function on it once it has executed."""

    def __init__(self, wrapped: object, hook: str) -> None:
        self._wrapped = wrapped
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> object:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: object) -> None:
        self._wrapped.exec_module(module)
        _call(self._hook, module)


def _call(hook: str, module: object) -> None:
    try:
        from anomalib_kd_plugins import registry

        getattr(registry, hook)(module)
    except Exception as exc:
        print(f"anomalib_kd_plugins: {hook} skipped: {exc}", file=sys.stderr)


class _PostImportFinder:
    """One-shot finder: intercepts the first import of ``target`` and removes itself."""

    target = ""
    hook = ""

    def find_spec(self, fullname, path, target=None):
        if fullname != self.target:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HookedLoader(spec.loader, self.hook)
        return spec


class _AnomalibModelsFinder(_PostImportFinder):
    target = "anomalib.models"
    hook = "register_all"


class _AnomalibEngineFinder(_PostImportFinder):
    target = "anomalib.engine.engine"
    hook = "guard_engine"


_FINDERS = (_AnomalibModelsFinder, _AnomalibEngineFinder)


def enabled() -> bool:
    """Whether ``ANOMALIB_KD_PLUGINS_AUTOLOAD`` leaves the hooks on (the default)."""
    return os.environ.get("ANOMALIB_KD_PLUGINS_AUTOLOAD", "1").strip().lower() not in _OFF_VALUES


def install() -> None:
    """Insert the finders (idempotent); a target already imported gets its hook right away."""
    for finder in _FINDERS:
        if any(isinstance(f, finder) for f in sys.meta_path):
            continue
        if finder.target in sys.modules:
            _call(finder.hook, sys.modules[finder.target])
            continue
        sys.meta_path.insert(0, finder())


def uninstall() -> None:
    """Remove the finders from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PostImportFinder)]


if enabled():
    install()
