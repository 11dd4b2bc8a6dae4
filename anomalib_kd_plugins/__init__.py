"""ADPS and DMDD knowledge-distillation anomaly detectors as anomalib 2.7 models.

The model classes are imported lazily (PEP 562) so that the ``.pth`` autoload hook, which imports
``anomalib_kd_plugins._autoload`` at every interpreter start, never pulls in torch or anomalib.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # not `from typing import ...`: typing costs ~5 ms at every start (the .pth hook imports us)

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Adps": "anomalib_kd_plugins.models.adps",
    "Dmdd": "anomalib_kd_plugins.models.dmdd",
    "PaperEvaluator": "anomalib_kd_plugins.components.evaluator",
}

__all__ = ["Adps", "Dmdd", "PaperEvaluator", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from anomalib_kd_plugins.components.evaluator import PaperEvaluator
    from anomalib_kd_plugins.models.adps import Adps
    from anomalib_kd_plugins.models.dmdd import Dmdd


def __getattr__(name: str) -> type:
    """Import a model class on first access and cache it as a module attribute."""
    if name not in _LAZY:
        raise AttributeError(f"module 'anomalib_kd_plugins' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the lazy names too, so tab completion and jsonargparse see them."""
    return sorted(set(globals()) | set(_LAZY))
