"""Lazy post-import hook, installed by ``anomalib_kd_plugins_autoload.pth`` at interpreter start.

It costs a few standard-library imports: torch and anomalib are untouched until someone imports ``anomalib.models``.
Right after that module has executed, :func:`anomalib_kd_plugins.registry.register_all` publishes every
``anomalib.models`` entry point on it, so the stock ``anomalib train --model Adps`` works. Turn it off with
``ANOMALIB_KD_PLUGINS_AUTOLOAD=0``.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

# No importlib.abc (it drags in importlib.resources, tempfile, pathlib, shutil: ~20 ms at every interpreter start):
# the import protocol is duck-typed, so plain classes with the right methods suffice.

_TARGET = "anomalib.models"
_OFF_VALUES = {"0", "false", "no", "off"}


class _RegisteringLoader:
    """Wrap the real loader of ``anomalib.models`` and register plugins once it has executed."""

    def __init__(self, wrapped: object) -> None:
        self._wrapped = wrapped

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> object:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: object) -> None:
        self._wrapped.exec_module(module)
        try:
            from anomalib_kd_plugins.registry import register_all

            register_all(module)
        except Exception as exc:
            print(f"anomalib_kd_plugins: plugin registration skipped: {exc}", file=sys.stderr)


class _AnomalibModelsFinder:
    """One-shot finder: intercepts the first import of ``anomalib.models`` and removes itself."""

    def find_spec(self, fullname: str, path, target=None):
        if fullname != _TARGET:
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def enabled() -> bool:
    """Whether ``ANOMALIB_KD_PLUGINS_AUTOLOAD`` leaves the hook on (the default)."""
    return os.environ.get("ANOMALIB_KD_PLUGINS_AUTOLOAD", "1").strip().lower() not in _OFF_VALUES


def install() -> None:
    """Insert the finder (idempotent); if ``anomalib.models`` is already imported, register right away."""
    if any(isinstance(f, _AnomalibModelsFinder) for f in sys.meta_path):
        return
    if _TARGET in sys.modules:
        from anomalib_kd_plugins.registry import register_all

        register_all(sys.modules[_TARGET])
        return
    sys.meta_path.insert(0, _AnomalibModelsFinder())


def uninstall() -> None:
    """Remove the finder from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AnomalibModelsFinder)]


if enabled():
    install()
