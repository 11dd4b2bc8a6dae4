"""Where a Dmdd cpu-recipe fit spends its time: steps per phase, epoch-end probes, validation, the post-fit work.

python fit_parts.py DATA CATEGORY [KEY=VALUE ...]   (recipe settings as --set takes them, JSON values)

A measurement, not a test: one seeded fit (seed 0) of the Dmdd CPU recipe, its parts timed by a callback.
"""

import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from lightning.pytorch import Callback, seed_everything

from anomalib_kd_plugins.bench.curves import curve_logger
from anomalib_kd_plugins.recipes import recipe
from anomalib_kd_plugins.training import fit_and_test, mvtec_datamodule


class Timer(Callback):
    def __init__(self):
        self.t = collections.defaultdict(float)
        self.n = collections.Counter()
        self.mark = 0.0

    def _start(self):
        self.mark = time.perf_counter()

    def _stop(self, key):
        self.t[key] += time.perf_counter() - self.mark
        self.n[key] += 1

    def on_train_batch_start(self, trainer, m, batch, i):
        self.phase = m.phase(i)
        self._start()

    def on_train_batch_end(self, trainer, m, out, batch, i):
        self._stop("step_" + self.phase)
        self.mark_between = time.perf_counter()

    def on_train_epoch_end(self, trainer, m):
        # callbacks' epoch-end runs after the module's: time from the last step's end
        self.t["epoch_end(probe)"] += time.perf_counter() - self.mark_between
        self.n["epoch_end(probe)"] += 1

    def on_validation_start(self, trainer, m):
        self._start()

    def on_validation_end(self, trainer, m):
        self._stop("validation")

    def on_fit_start(self, trainer, m):
        self.fit0 = time.perf_counter()

    def on_fit_end(self, trainer, m):
        self.t["fit_total_in_callbacks"] = time.perf_counter() - self.fit0


root, category = sys.argv[1], sys.argv[2]
over = {k: json.loads(v) if v[:1] in '0123456789-[{tfn"' else v for k, v in (a.split("=", 1) for a in sys.argv[3:])}
spec = recipe("Dmdd")
for k, v in over.items():
    spec = spec.with_setting(k, v)
seed_everything(0, workers=True)
dm = mvtec_datamodule(root, category, spec.train_batch_size)
timer = Timer()
with tempfile.TemporaryDirectory() as tmp:
    metrics, engine, model = fit_and_test(
        spec,
        dm,
        tmp,
        {"visualizer": False},
        {
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": curve_logger(Path(tmp)),
            "callbacks": [timer],
        },
    )
print(category, over, f"fit_s {metrics['fit_s']:.1f} pixel_AP {metrics['pixel_AUPR']:.3f}")
for k in timer.t:
    print(f"  {k:24s} {timer.t[k]:7.1f} s  n={timer.n[k]}  per={timer.t[k] / max(timer.n[k], 1):.3f}")
