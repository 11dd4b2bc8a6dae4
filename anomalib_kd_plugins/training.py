"""Train and test one recipe with anomalib's Engine on CPU: what the demo, the bench and the tests share."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from anomalib_kd_plugins.recipes import Recipe, build_model, validation_args


def fit_and_test(
    spec: Recipe,
    datamodule: Any,
    workdir: str | Path,
    model_overrides: dict[str, Any] | None = None,
    trainer_overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, float], Any, Any]:
    """Fit a recipe (``recipes.Recipe``) on a datamodule, then test it; returns (metrics + ``fit_s``, engine, model).

    Args:
        spec: the recipe (init args, image size, normalisation, budget).
        datamodule: an anomalib datamodule.
        workdir: the Engine's ``default_root_dir``.
        model_overrides: constructor arguments on top of the recipe's (e.g. ``{"visualizer": False}``).
        trainer_overrides: Engine/Trainer arguments on top of the recipe's and the CPU defaults (e.g.
            ``{"max_epochs": 2, "enable_progress_bar": False}``).

    Validation runs once, after the last epoch or step (``recipes.validation_args``; it sets the thresholds).
    """
    from anomalib.engine import Engine

    model = build_model(spec, **(model_overrides or {}))
    trainer = {**spec.trainer, **(trainer_overrides or {})}
    defaults = {"accelerator": "cpu", "devices": 1, "default_root_dir": workdir, "logger": False}
    engine = Engine(**{**defaults, **validation_args(trainer), **trainer})
    start = time.perf_counter()
    engine.fit(model, datamodule=datamodule)
    fit_s = time.perf_counter() - start
    metrics = {k: float(v) for k, v in engine.test(model, datamodule=datamodule, verbose=False)[0].items()}
    return {**metrics, "fit_s": fit_s}, engine, model


def mvtec_datamodule(
    root: str | Path, category: str, train_batch_size: int, eval_batch_size: int = 8, num_workers: int = 0
) -> Any:
    """An MVTec-layout category with the recipe's training batch size and a fixed split (seed 0): every model and
    run sees the same validation and test images."""
    from anomalib.data import MVTecAD

    return MVTecAD(
        root=root,
        category=category,
        train_batch_size=train_batch_size,
        eval_batch_size=eval_batch_size,
        num_workers=num_workers,
        seed=0,
    )
