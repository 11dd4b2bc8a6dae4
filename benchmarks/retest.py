"""Re-test the checkpoints an ``anomalib-kd bench`` run saved, with an inference-only option changed.

    python benchmarks/retest.py BENCH_OUT [BENCH_OUT ...] --set Dmdd.sigma=8 --out OUT

An option that acts only when the map is made (the Gaussian σ of both models) can be judged on the very models a
bench run trained: no retraining, no seed noise between the two sides. For every model that a ``--set`` names, each
checkpoint under the run's ``runs/`` folder is loaded into the run's own recipe (``spec_MODEL.json``) with the
override, validated (anomalib's post-processor refits its normalisation and thresholds on the new maps) and tested on
the run's data with the run's seed, exactly as the bench's worker does. With no override the cells equal the bench's
(checked: all 12 Dmdd cells of a 3-seed run to four decimals). ``kd_pool``, ``kd_pool_border`` and ``kd_views``
change the KD map, ``map_fusion_scale`` how it is scaled and ``map_fusion_calibration`` on which images it is
measured, so the map fusion's statistics are measured again on the training images, as a fit measures them after
training. Writes ``OUT/bench.csv`` as the bench writes it (its columns, the unclamped ``raw_*`` ones included, and a
category mean per model and seed) with each fit's time, latency and peak memory from the run's own ``bench.csv`` (an
inference-only option changes none of them, except the latency of those in ``RETIME``, which the re-test measures
again), which ``benchmarks/compare_runs.py``, ``benchmarks/headline.py`` and ``benchmarks/ablations.py`` read like
any bench output, and ``OUT/spec_MODEL.json``, the recipe as re-tested (``write_specs``). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anomalib_kd_plugins.bench.worker import WorkerJob

INFERENCE_ONLY = {
    model: {
        "sigma",
        "map_fusion",
        "kd_pool",
        "kd_pool_border",
        "map_fusion_scale",
        "map_fusion_calibration",
        "score_map",
        "kd_views",
    }
    for model in ("Adps", "Dmdd")
}  # options a checkpoint takes unchanged
# they change the KD map or how the fusion scales it: the fusion's statistics are measured again
RECALIBRATE = {"kd_pool", "kd_pool_border", "kd_views", "map_fusion_scale", "map_fusion_calibration"}
COSTS = ("fit_s", "latency_ms_b1", "peak_rss_mb")  # the bench's cost cells that a re-test carries over from the fit
RETIME = {"kd_views"}  # they change what inference computes: the re-test times the model again, as the bench does


def parse_sets(settings: list[str]) -> dict[str, dict[str, Any]]:
    """``MODEL.KEY=VALUE`` → {model: {key: value}}; only inference-only keys, else the result would be a lie."""
    from anomalib_kd_plugins.bench.config import parse_setting

    out: dict[str, dict[str, Any]] = {}
    for setting in settings:
        model, key, value = parse_setting(setting)
        if key not in INFERENCE_ONLY.get(model, set()):
            allowed = ", ".join(f"{m}.{k}" for m, keys in INFERENCE_ONLY.items() for k in sorted(keys))
            raise SystemExit(f"--set {setting!r}: a saved checkpoint can only be re-tested with {allowed}")
        out.setdefault(model, {})[key] = value
    return out


def load(job: WorkerJob, overrides: dict[str, Any], ckpt: Path, category: str, seed: int) -> tuple[Any, Any, Any]:
    """(recipe, model with the checkpoint's weights, datamodule) of one bench fit, seeded as the bench's worker."""
    import torch
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.components.mixin import ordered_images
    from anomalib_kd_plugins.recipes import build_model

    preset = job.recipe.with_args(**overrides)
    seed_everything(seed, workers=True)
    model = build_model(preset, visualizer=False)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"])
    datamodule = job.suite.datamodule(category, preset.train_batch_size)
    if RECALIBRATE & overrides.keys():  # another KD map or scale: the statistics are measured again, as a fit does
        datamodule.setup()
        # the images a fit calibrates on, in the same order (training_images)
        model.calibrate_map_fusion(ordered_images(datamodule.train_dataloader(), model.pre_processor.transform))
    return preset, model, datamodule


def checkpoints(out: Path, models: list[str] | None = None) -> Iterator[tuple[WorkerJob, Path, str, int]]:
    """(job, checkpoint, category, seed) of every fit a bench output folder saved, of ``models`` (default all)."""
    from anomalib_kd_plugins.bench.worker import WorkerJob

    for spec_path in sorted(out.glob("spec_*.json")):
        job = WorkerJob.from_dict(json.loads(spec_path.read_text()))
        if models and job.model not in models:
            continue
        for seed in job.seeds:
            for category in job.suite.categories:
                folder = job.run_dir(category, seed)
                ckpt = next(folder.glob("**/weights/lightning/model.ckpt"), None)
                if ckpt is None:
                    raise SystemExit(f"no checkpoint under {folder}: was {out} written by anomalib-kd bench?")
                yield job, ckpt, category, seed


def fit_costs(out: Path) -> dict[tuple[str, str, int], dict[str, str]]:
    """(model, category, seed) → the fit's ``COSTS`` cells from the bench run's own ``bench.csv`` (none if absent).

    An inference-only option changes neither the fit nor the map's arithmetic, so a re-tested row keeps its fit's
    time, latency and memory: the README's table can then come from a re-test as from the bench run itself."""
    path = out / "bench.csv"
    if not path.is_file():
        return {}
    return {
        (row["model"], row["category"], int(float(row["seed"]))): {k: row[k] for k in COSTS if row.get(k)}
        for row in csv.DictReader(path.open())
        if row["category"] not in ("mean", "-")
    }


def retest(
    job: WorkerJob, overrides: dict[str, Any], ckpt: Path, category: str, seed: int, workdir: Path
) -> dict[str, Any]:
    """One checkpoint, re-tested with ``overrides`` on top of its recipe."""
    from anomalib.engine import Engine

    from anomalib_kd_plugins.bench.worker import _raw_metrics
    from anomalib_kd_plugins.metrics import METRICS

    preset, model, datamodule = load(job, overrides, ckpt, category, seed)
    engine = Engine(accelerator="cpu", devices=1, logger=False, default_root_dir=workdir, enable_progress_bar=False)
    engine.validate(model, datamodule=datamodule, verbose=False)
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    raw = _raw_metrics(engine, model, datamodule)  # the bench's unclamped ``raw_*`` columns, as its worker writes them
    row = {
        "suite": job.suite.name,
        "model": job.model,
        "category": category,
        "seed": seed,
        "image_size": preset.image_size,
        "overrides": json.dumps(overrides),
        **{m: float(metrics[m]) for m in METRICS if m in metrics},
        **raw,
    }
    if RETIME & overrides.keys():  # the fit's latency is not this model's: time it as the bench's worker does
        from anomalib_kd_plugins.bench.measure import torch_timings
        from anomalib_kd_plugins.bench.worker import _has_teacher, _test_images

        teacher = preset if _has_teacher(preset) else None
        row.update(torch_timings(model, _test_images(datamodule), job.repeats, teacher))
    return row


def arguments(doc: str | None) -> argparse.Namespace:
    """The command line of the inference-only scripts: bench outputs, ``--set`` overrides, ``--models``, ``--out``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="BENCH_OUT")
    parser.add_argument(
        "--set", nargs="+", action="extend", default=[], metavar="MODEL.KEY=VALUE", help="e.g. Dmdd.sigma=8"
    )
    parser.add_argument("--models", nargs="+", help="default: the models a --set names, else every model saved")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def main() -> int:
    args = arguments(__doc__)
    sets = parse_sets(args.set)
    rows = []
    for out in args.runs:
        costs = fit_costs(out)
        for job, ckpt, category, seed in checkpoints(out, args.models or list(sets) or None):
            row = retest(job, sets.get(job.model, {}), ckpt, category, seed, args.out / "runs")
            rows.append(costs.get((job.model, category, seed), {}) | row)  # a cost measured again wins
            print(json.dumps(rows[-1]), flush=True)
    write_bench(rows, args.out / "bench.csv")
    write_specs(args.runs, sets, args.out)
    return 0


def write_bench(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as the bench writes them (``bench/report.frame``): its columns, and a ``category="mean"`` row per
    model and seed, which ``benchmarks/ablations.py`` and ``benchmarks/budget_curve.py`` read as a run's result."""
    from anomalib_kd_plugins.bench.report import frame

    path.parent.mkdir(parents=True, exist_ok=True)
    frame(rows).to_csv(path, index=False)
    print(f"wrote {path} ({len(rows)} rows and their means)")


def write_specs(runs: list[Path], sets: dict[str, dict[str, Any]], out: Path) -> None:
    """``OUT/spec_MODEL.json`` for each re-tested model: the run's spec with the recipe as re-tested, so
    ``benchmarks/headline.py --recipes`` can describe it. When that recipe's settings are exactly the recipe table's
    current recipe of its kind, the table's recipe is written, with its current ``why``; else the run's settings, with
    that ``why`` and the settings in which the run differs from it (a constructor argument at its class default counts
    as unset), so a row never carries the reasons of a recipe it no longer is."""
    import inspect

    from anomalib_kd_plugins.recipes import RECIPES, Recipe, model_class

    def class_defaults(model: str) -> dict[str, Any]:
        parameters = inspect.signature(model_class(model)).parameters.items()
        return {name: p.default for name, p in parameters if p.default is not inspect.Parameter.empty}

    def settings(recipe: Recipe, defaults: dict[str, Any]) -> dict[str, Any]:
        plain = {k: v for k, v in recipe.to_dict().items() if k != "why"}
        plain["init_args"] = {k: v for k, v in plain["init_args"].items() if k not in defaults or v != defaults[k]}
        return plain

    for run in runs:
        for spec_path in sorted(run.glob("spec_*.json")):
            spec = json.loads(spec_path.read_text())
            model = spec["model"]
            if model not in sets:
                continue
            tested = Recipe.from_dict(spec["recipe"]).with_args(**sets[model])
            current = RECIPES.get(model, {}).get(tested.kind)
            recipe = tested
            if current is not None:
                defaults = class_defaults(model)
                ran, table = settings(tested, defaults), settings(current, defaults)
                ran_args, table_args = ran.pop("init_args"), table.pop("init_args")
                differs = [
                    f"{k}={ran_args.get(k, defaults.get(k))} (recipe: {table_args.get(k, defaults.get(k))})"
                    for k in sorted(ran_args.keys() | table_args.keys())
                    if ran_args.get(k) != table_args.get(k)
                ] + [f"{k}={ran[k]} (recipe: {table[k]})" for k in sorted(ran) if ran[k] != table.get(k)]
                why = f"{current.why}; this run: {', '.join(differs)}" if differs else current.why
                recipe = current if not differs else tested.replace(why=why)
            spec["recipe"] = recipe.to_dict()
            (out / spec_path.name).write_text(json.dumps(spec, indent=1))


def measure_checkpoints(
    doc: str, measure: Callable[[Any, Any], dict[str, float]], filename: str
) -> list[dict[str, Any]]:
    """The command line the inference-only scripts share (``map_parts.py``, ``kd_variants.py``): every checkpoint of
    the bench runs named, loaded as the bench trained it, measured by ``measure(model, datamodule)``; one row per fit,
    printed as it comes and written to ``--out/filename``; ``--set`` loads them with inference-only options changed,
    as a re-test does."""
    args = arguments(doc)
    sets = parse_sets(args.set)
    rows = []
    for out in args.runs:
        for job, ckpt, category, seed in checkpoints(out, args.models or list(sets) or ["Adps", "Dmdd"]):
            _, model, datamodule = load(job, sets.get(job.model, {}), ckpt, category, seed)
            row = {"run": out.name, "model": job.model, "category": category, "seed": seed}
            rows.append(row | {k: round(v, 4) for k, v in measure(model, datamodule).items()})
            print(json.dumps(rows[-1]), flush=True)
    write_rows(rows, args.out / filename)
    return rows


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as a CSV file (every row's keys, in order of appearance, as its header), and a line saying so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")


if __name__ == "__main__":
    raise SystemExit(main())
