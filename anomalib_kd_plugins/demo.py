"""The main job on embedded real-photo data: seed weights, build data, train and test each model, print metrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from anomalib_kd_plugins.metrics import LABELS, METRICS

if TYPE_CHECKING:
    from anomalib_kd_plugins.recipes import Recipe


def _say(msg: str) -> None:
    print(f"[anomalib-kd demo] {msg}", flush=True)


def _cpu_recipes(models: list[str] | None) -> dict[str, Recipe]:
    """Model name -> its CPU recipe, for every requested (default: every) plugin model."""
    from anomalib_kd_plugins.recipes import PLUGIN_MODELS, recipe

    wanted = models or list(PLUGIN_MODELS)
    unknown = [m for m in wanted if m not in PLUGIN_MODELS]
    if unknown:
        raise SystemExit(f"No CPU recipe for {unknown}; choose from {sorted(PLUGIN_MODELS)}")
    return {m: recipe(m, "cpu") for m in wanted}


def run_demo(
    models: list[str] | None = None,
    category: str = "brick",
    epochs: int | None = None,
    out: str = "demo_output",
    seed: int = 0,
) -> int:
    """Train and test each model's CPU preset on one real-photo category; print a side-by-side table.

    Every model's fit starts from ``seed_everything(seed)`` (weights init, synthetic anomalies, shuffling), so the
    printed figures are what the README promises for the same seed, on any run.
    """
    import torch
    from lightning.pytorch import seed_everything

    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    out_dir = Path(out).resolve()
    specs = _cpu_recipes(models)

    from anomalib_kd_plugins.weights import LITE0_TIMM_NAME, go_offline, is_seeded
    from anomalib_kd_plugins.weights import seed as seed_weights

    go_offline()  # offline first: weights come from the seeded local cache

    if not is_seeded(LITE0_TIMM_NAME):
        _say(f"seeding ImageNet {LITE0_TIMM_NAME} weights into the local Hugging Face cache")
        seed_weights()
    _say(f"weights: {LITE0_TIMM_NAME} (ImageNet, local cache, HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']})")

    from anomalib_kd_plugins.data import SUITE_SIZE, build, check_suite
    from anomalib_kd_plugins.training import fit_and_test, mvtec_datamodule

    data_root = out_dir / "data"
    if not (data_root / category / "train" / "good").is_dir():
        _say(f"building the real-photo category {category!r} (scikit-image photographs, {SUITE_SIZE}²) in {data_root}")
        build(data_root, [category])
    check_suite(data_root)

    results: dict[str, dict[str, float]] = {}
    images: dict[str, Path] = {}
    for name, spec in specs.items():
        spec = spec.with_setting("max_epochs", epochs) if epochs else spec
        _say(f"{name}: recipe cpu, {spec.trainer}, {spec.image_size}² images, {spec.constructor_args()}")
        seed_everything(seed, workers=True)
        datamodule = mvtec_datamodule(data_root, category, spec.train_batch_size)
        metrics, engine, _ = fit_and_test(
            spec, datamodule, out_dir / "results", trainer_overrides={"enable_model_summary": False}
        )
        results[name] = metrics
        images[name] = Path(engine.trainer.default_root_dir) / "images"

    _print_table(results, category)
    for name, folder in images.items():
        _say(f"{name} visualisations: {folder}")
    return 0


def _print_table(results: dict[str, dict[str, float]], category: str) -> None:
    names = list(results)
    header = f"{'metric (' + category + ')':<22}" + "".join(f"{n:>12}" for n in names)
    print("\n" + header + "\n" + "-" * len(header))
    for metric in (*METRICS, "fit_s"):
        row = "".join(f"{results[n].get(metric, float('nan')):>12.4f}" for n in names)
        print(f"{LABELS.get(metric, metric):<22}{row}")
    print(flush=True)
