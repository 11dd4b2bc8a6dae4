"""``anomalib-kd bench``: Adps, Dmdd, PatchCore and RD4AD side by side on the same data, in one run.

The Python entry point is ``run(BenchConfig(...))``; the command line parses into the same ``BenchConfig``.

* :mod:`.config` — :class:`BenchConfig`, what one run does (models, data, recipes, measurements).
* :mod:`.suites` — the data (real-photo demo categories, MVTec AD, any Folder dataset) and the model recipes.
* :mod:`.measure` — latency, throughput, parameter count and peak RSS (anomalib's Engine and metrics do the rest).
* :mod:`.worker` — one model over every category, in its own process (so peak RSS is that model's).
* :mod:`.report` — CSV, markdown table (ratios against a baseline of the same run) and PNG plots.
* :mod:`.curves` — the learning curves the models log, as CSV, plots and a plateau table.
* :mod:`.driver` — the command line and the orchestration.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["BenchConfig", "run"]
# lazy, so that `python -m anomalib_kd_plugins.bench.worker` does not import the worker module twice
_LAZY = {"BenchConfig": ".config", "run": ".driver"}


def __getattr__(name: str) -> Any:
    """``BenchConfig`` and ``run`` on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name], __name__), name)
