"""``anomalib-kd bench``: train, test and time Adps, Dmdd, PatchCore and RD4AD on the same data, then report.

Fairness: every model sees the same datamodule split, image size and evaluator (anomalib's metrics, with pixel AP
and PRO), and the same pretrained teacher where the model allows it (offline default: ImageNet
tf_efficientnet_lite0; RD4AD's decoder needs a ResNet). A model whose backbone weights cannot be loaded here is
trained unpretrained for its speed and memory only; its quality cells read "needs pretrained weights".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from anomalib_kd_plugins.deploy import OPENVINO_PRECISIONS
from anomalib_kd_plugins.recipes import Recipe

from .config import BACKENDS, FOLDER_KEYS, RECIPE_KINDS, BenchConfig
from .suites import DEFAULT_MODELS, SUITES
from .worker import WorkerJob, say


def parser(parent: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ``bench`` arguments (also used as the ``anomalib-kd bench`` sub-parser)."""
    p = parent or argparse.ArgumentParser(prog="anomalib-kd bench", description=__doc__)
    p.add_argument("--suite", choices=SUITES, default="demo", help="demo: built real-photo categories (default)")
    p.add_argument("--root", help="dataset root (mvtec, folder); demo: where to build the data (default OUT/data)")
    p.add_argument("--categories", nargs="+", help="default: every category of the suite")
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help="model class names: Adps, Dmdd or any anomalib image model (Patchcore, Padim, Stfpm, Supersimplenet, "
        "Draem ...); NAME@SIZE runs it at another image size (Patchcore@256). Models the recipe table lacks get a "
        "CPU recipe derived from their constructor (bench/peers.py); one that needs a download is refused first",
    )
    p.add_argument("--recipe", choices=RECIPE_KINDS, help="default: paper for mvtec, cpu otherwise")
    p.add_argument("--paper-backbones", action="store_true", help="wide_resnet50_2 teachers (needs their weights)")
    p.add_argument("--image-size", type=int, help="override every recipe's image size")
    p.add_argument("--epochs", type=int, help="override every trained model's epochs (PatchCore stays 1 pass)")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="override one recipe setting, e.g. Adps.anomaly_source=self Dmdd.kd_reduction=batch_sum "
        "Patchcore.normalization=imagenet (init args; normalization, image_size, train_batch_size and max_epochs "
        "set the recipe itself); VALUE is read as JSON when it parses, else as a string",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        default=["torch"],
        choices=BACKENDS,
        help="openvino: export (FP32 IR) and time it once per model; openvino-int8: also anomalib's int8_ptq export "
        "(NNCF, calibrated on each category's validation images), timed, and both graphs scored on every test set",
    )
    p.add_argument(
        "--ov-precision",
        choices=OPENVINO_PRECISIONS,
        default="default",
        help="OpenVINO inference precision hint; default: the CPU plugin's own (bf16 on CPUs with avx512_bf16/AMX, "
        "f32 elsewhere). The precision used is reported in the ov_precision column",
    )
    p.add_argument("--repeats", type=int, default=20, help="timed repeats at batch 1 (a quarter of them at batch 8)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seed_everything(seed) before each fit, same for every model; several seeds give mean ± std",
    )
    p.add_argument("--baseline", default="Patchcore", help="ratios of fit time, latency and RSS are against it")
    p.add_argument("--out", default="bench_output")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no Lightning progress bars")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rewrite bench.csv, bench.md and the plots from the result_MODEL.json files already in "
        "--out (e.g. after a report change); give the run's --models",
    )
    folder = p.add_argument_group("folder suite (anomalib.data.Folder arguments)")
    for key in FOLDER_KEYS:
        folder.add_argument(f"--{key.replace('_', '-')}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns non-zero if any model failed (the others' results are still written)."""
    return run_cli(parser().parse_args(argv))


def run_cli(args: argparse.Namespace) -> int:
    """``anomalib-kd bench``: a config or recipe the bench cannot run is one line on stderr and exit code 2."""
    try:
        config = BenchConfig.from_namespace(args)
        recipes = config.model_recipes()  # every model resolved (and refused if it cannot run here) before training
    except ValueError as exc:
        print(f"anomalib-kd bench: {exc}", file=sys.stderr)
        return 2
    return run(config, recipes)


def run(config: BenchConfig, recipes: dict[str, Recipe] | None = None) -> int:
    """Run one bench: a worker process per model, then CSV, markdown and plots in ``config.out``.

    ``recipes`` are ``config.model_recipes()`` when the caller has resolved them already (a derived peer recipe
    builds its model once to read its layers). Returns non-zero if any model failed (the others' results are still
    written).
    """
    from anomalib_kd_plugins.weights import go_offline

    from .curves import plateau_table, plot_curves
    from .report import frame, galleries, markdown, plots, write_csv

    go_offline()  # offline first; the workers inherit it
    from .suites import make_suite

    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    recipes = recipes if recipes is not None else config.model_recipes()
    size = max(r.image_size for r in recipes.values())
    categories = list(config.categories) if config.categories else None
    suite = make_suite(config.suite, config.root, categories, out, dict(config.folder), config.num_workers)
    say(f"suite {suite.name}: {len(suite.categories)} categories {suite.categories} under {suite.root}")
    (out / "gallery").mkdir(exist_ok=True)
    start = time.perf_counter()
    if config.report_only:
        rows, failed = saved_results(out, list(config.models)), []
    else:
        rows, failed = train_models(config, recipes, suite, out)

    df = frame(rows)
    csv = write_csv(df, out / "bench.csv")
    table = markdown(df, config.baseline)
    took = f"{time.perf_counter() - start:.0f} s in all"
    if config.report_only:
        took = "report rewritten from the result files"
    (out / "bench.md").write_text(
        f"Suite `{suite.name}` ({', '.join(suite.categories)}), recipe `{config.kind}`, {size}² max image size, "
        f"seeds {list(config.seeds)}, {took}.\n\n{table}"
    )
    pngs = plots(df, out) if df["pixel_AUROC"].notna().any() else []
    pngs += galleries(out / "gallery", out, suite.categories, list(config.models))
    pngs += plot_curves(out / "curves", out)
    if (out / "curves").is_dir():
        (out / "curves.md").write_text(plateau_table(out / "curves"))
    print("\n" + table)
    say(f"wrote {csv}, {out / 'bench.md'}" + "".join(f", {p}" for p in pngs))
    if failed:
        say(f"failed models: {failed}")
        return 1
    return 0


# glibc returns allocations of 8 MiB and more to the system when they are freed (docs/performance.md, "PatchCore's
# 20 GB"): without it, anomalib's coreset loop can leave one freed N×D temporary per iteration unusable. Only the
# models whose fit runs that loop get it; the others run as a user's `anomalib train` runs them (with it, an Adps fit
# spent two thirds of its CPU time mapping and zeroing fresh blocks in the kernel)
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(8 * 2**20)}
CORESET_MODELS = frozenset({"Patchcore", "AnomalyDINO"})  # anomalib's KCenterGreedy users


def worker_env(model: str) -> dict[str, str]:
    """The environment of ``model``'s worker process: this one's, with ``WORKER_MALLOC`` for a coreset model where
    the user has not set it."""
    return {**WORKER_MALLOC, **os.environ} if model in CORESET_MODELS else dict(os.environ)


def saved_results(out: Path, models: list[str]) -> list[dict[str, Any]]:
    """The rows an earlier run of ``models`` left in ``out`` (``result_MODEL.json``), for ``--report-only``."""
    missing = [m for m in models if not (out / f"result_{m}.json").exists()]
    if missing:
        raise SystemExit(f"--report-only: {out} has no result file for {missing}; run the bench for them first")
    return [row for m in models for row in json.loads((out / f"result_{m}.json").read_text())]


def train_models(
    config: BenchConfig, recipes: dict[str, Recipe], suite: Any, out: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """One worker process per model (weights seeded first); returns the rows and the models that failed."""
    from .suites import pretrained_available

    backbones = {r.init_args.get("backbone") for r in recipes.values()} - {None}
    if "tf_efficientnet_lite0" in backbones:
        from anomalib_kd_plugins.weights import LITE0_TIMM_NAME, is_seeded, seed

        if not is_seeded(LITE0_TIMM_NAME):
            say("seeding ImageNet tf_efficientnet_lite0 weights into the local Hugging Face cache")
            seed()
    weights = {b: pretrained_available(b) for b in backbones}
    say(f"models {list(config.models)}, recipe {config.kind}, pretrained weights available: {weights}")

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    start = time.perf_counter()
    for i, model in enumerate(config.models, 1):
        spec = recipes[model]
        job = WorkerJob(
            model=model,
            recipe=spec,
            suite=suite,
            quality=weights.get(spec.init_args.get("backbone"), True),  # no backbone: trained from scratch
            backends=config.backends,
            repeats=config.repeats,
            ov_precision=config.ov_precision,
            seeds=config.seeds,
            out=str(out),
            progress=not config.quiet,
        )
        spec_path, result_path = out / f"spec_{model}.json", out / f"result_{model}.json"
        spec_path.write_text(json.dumps(job.to_dict(), indent=1))
        result_path.unlink(missing_ok=True)
        say(f"({i}/{len(config.models)}) {model}: {spec.constructor_args()}, {spec.image_size}², {spec.trainer}")
        cmd = [sys.executable, "-m", "anomalib_kd_plugins.bench.worker", str(spec_path), str(result_path)]
        proc = subprocess.run(cmd, check=False, env=worker_env(spec.model))
        if proc.returncode != 0 or not result_path.exists():
            failed.append(model)
            say(f"{model} FAILED (exit {proc.returncode}); the other models go on")
            note = f"failed (exit {proc.returncode})"
            rows.append({"suite": suite.name, "model": model, "category": "-", "note": note})
            continue
        rows.extend(json.loads(result_path.read_text()))
        say(f"{model} finished; {time.perf_counter() - start:.0f} s elapsed")
    return rows, failed


if __name__ == "__main__":
    sys.exit(main())
