"""Where a CPU-recipe fit spends its time: steps per phase, the module's epoch end (the learning curves), validation.

python fit_parts.py DATA CATEGORY [--model Dmdd] [KEY=VALUE ...]   (settings as --set takes them)

A measurement, not a test: one seeded fit (seed 0) of a CPU recipe, its parts timed. Round 24's probe timed the
epoch end from a callback, whose ``on_train_epoch_end`` runs before the module's, so it missed the curves' probe;
here the module's own hook is wrapped.
"""

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from lightning.pytorch import seed_everything

sys.path.insert(0, str(Path(__file__).parents[5] / "benchmarks"))
from step_time import StepTimer

from anomalib_kd_plugins.bench.curves import curve_logger
from anomalib_kd_plugins.recipes import recipe
from anomalib_kd_plugins.training import fit_and_test, mvtec_datamodule


class PartTimer(StepTimer):
    """``StepTimer``'s steps, plus validation and the module's own ``on_train_epoch_end`` (wrapped at fit start)."""

    def on_fit_start(self, trainer, pl_module) -> None:
        hook = pl_module.on_train_epoch_end

        def timed_hook() -> None:
            start = time.perf_counter()
            hook()
            self.records.append(("module epoch end (curves)", time.perf_counter() - start))

        pl_module.on_train_epoch_end = timed_hook

    def on_validation_start(self, trainer, pl_module) -> None:
        self._validation = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.records.append(("validation", time.perf_counter() - self._validation))


parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("category")
parser.add_argument("--model", default="Dmdd")
parser.add_argument("settings", nargs="*")
args = parser.parse_args()
spec = recipe(args.model)
for key, value in (a.split("=", 1) for a in args.settings):
    spec = spec.with_setting(key, json.loads(value) if value[:1] in '0123456789-[{tfn"' else value)
seed_everything(0, workers=True)
timer = PartTimer()
with tempfile.TemporaryDirectory() as tmp:
    metrics, _, _ = fit_and_test(
        spec,
        mvtec_datamodule(args.root, args.category, spec.train_batch_size),
        tmp,
        {"visualizer": False},
        {
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": curve_logger(Path(tmp)),
            "callbacks": [timer],
        },
    )
parts, counts = collections.defaultdict(float), collections.Counter()
for key, seconds in timer.records:
    parts[key] += seconds
    counts[key] += 1
print(f"{args.model} {args.category} {args.settings} fit_s {metrics['fit_s']:.1f} pixel_AP {metrics['pixel_AUPR']:.3f}")
for key, seconds in parts.items():
    print(f"  {key:28s} {seconds:7.1f} s  n={counts[key]}  per={seconds / counts[key]:.3f}")
print(f"  {'the rest':28s} {metrics['fit_s'] - sum(parts.values()):7.1f} s")
