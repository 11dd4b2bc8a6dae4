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

from .config import BenchConfig
from .driver import run

__all__ = ["BenchConfig", "run"]
