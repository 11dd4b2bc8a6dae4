"""Load the ``anomalib.models`` entry points and publish them on the ``anomalib.models`` module.

anomalib 2.7 has no plugin mechanism: ``jsonargparse`` finds a short model name (``--model Adps``) only among
already-imported ``AnomalibModule`` subclasses, and ``anomalib.models.get_model({"class_path": "Adps"})`` (the
benchmark path) only through ``getattr(anomalib.models, "Adps")``. Importing each entry point's class and setting it
as an attribute of ``anomalib.models`` satisfies both (docs/architecture.md, decision 2).
"""

from __future__ import annotations

import logging
import sys
import warnings
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

GROUP = "anomalib.models"
ENV_SWITCH = "ANOMALIB_KD_PLUGINS_AUTOLOAD"

logger = logging.getLogger(__name__)

# entry points whose module was still being imported when anomalib.models finished loading (import cycle)
_pending: dict[str, EntryPoint] = {}


def plugin_entry_points() -> list[EntryPoint]:
    """Return every entry point of the ``anomalib.models`` group, first one per name wins (duplicate installs)."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def plugin_models() -> tuple[str, ...]:
    """This package's model class names, as its ``anomalib.models`` entry points declare them (pyproject.toml): the
    one list of our models that the recipes, the demo, the bench and the tests read."""
    package = __name__.split(".")[0]
    return tuple(ep.name for ep in plugin_entry_points() if ep.value.split(":")[0].split(".")[0] == package)


def _initializing(module_name: str) -> bool:
    """Whether any module of ``module_name``'s top-level package is mid-import (an import cycle, not a failure)."""
    top = module_name.split(".")[0]
    for name, module in list(sys.modules.items()):
        if (name == top or name.startswith(top + ".")) and getattr(
            getattr(module, "__spec__", None), "_initializing", False
        ):
            return True
    return False


def _pending_getattr(name: str) -> Any:
    """``anomalib.models.__getattr__``: resolve an entry point that was deferred because of an import cycle."""
    ep = _pending.pop(name, None)
    if ep is None:
        raise AttributeError(f"module 'anomalib.models' has no attribute {name!r}")
    value = ep.load()
    setattr(sys.modules["anomalib.models"], name, value)
    return value


def register_all(models_module: ModuleType | None = None) -> dict[str, type]:
    """Import every ``anomalib.models`` entry point and set it on ``anomalib.models``; a failing plugin only warns."""
    if models_module is None:
        import anomalib.models as models_module

    loaded: dict[str, type] = {}
    for ep in plugin_entry_points():
        try:
            value = ep.load()
        except Exception as exc:
            if _initializing(ep.module):
                _pending[ep.name] = ep
                continue
            warnings.warn(
                f"anomalib model plugin {ep.name!r} ({ep.value}) failed to import and was skipped: "
                f"{type(exc).__name__}: {exc}. anomalib works without it; fix or uninstall that package, "
                f"or set {ENV_SWITCH}=0 to stop loading plugins.",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        setattr(models_module, ep.name, value)
        loaded[ep.name] = value
    if _pending and not hasattr(models_module, "__getattr__"):
        models_module.__getattr__ = _pending_getattr  # type: ignore[attr-defined]
    return loaded


def guard_engine(engine_module: ModuleType) -> None:
    """Make ``Engine._setup_workspace`` check the output folder first when it sets up one of this package's models.

    anomalib creates ``default_root_dir`` there, before any hook of the model runs, and a path through a regular file
    ends in a bare ``NotADirectoryError``. The check names the path, the part of it that is not a writable folder,
    and the fix (components/paths.py, ``check_output_dir``); other models are left exactly as anomalib runs them.
    """
    engine_cls = getattr(engine_module, "Engine", None)
    original = getattr(engine_cls, "_setup_workspace", None)
    if original is None or getattr(original, "checks_output_dir", False):
        return

    from functools import wraps

    @wraps(original)
    def _setup_workspace(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        from anomalib_kd_plugins.components.mixin import SyntheticAnomalyKDMixin
        from anomalib_kd_plugins.components.paths import check_output_dir

        root = getattr(getattr(self, "_cache", None), "args", {}).get("default_root_dir")
        if root is not None and isinstance(model, SyntheticAnomalyKDMixin):
            check_output_dir(root, "--default_root_dir")
        return original(self, model, *args, **kwargs)

    _setup_workspace.checks_output_dir = True  # type: ignore[attr-defined]
    engine_cls._setup_workspace = _setup_workspace
