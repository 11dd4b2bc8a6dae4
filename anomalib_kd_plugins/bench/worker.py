"""One benchmark worker: one model over every category, in its own process so its peak RSS is its own.

Run by the driver as ``python -m anomalib_kd_plugins.bench.worker SPEC.json RESULT.json``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomalib_kd_plugins.metrics import METRICS, RANKING_METRICS
from anomalib_kd_plugins.recipes import Recipe

from .suites import Suite


@dataclass(frozen=True)
class WorkerJob:
    """What one worker process runs: one model's recipe over every category of a suite, once per seed.

    Its JSON form (``to_dict``) is the spec file the driver writes and the worker reads.
    """

    model: str
    recipe: Recipe
    suite: Suite
    quality: bool  # pretrained weights are available, so quality cells mean something
    backends: tuple[str, ...]
    repeats: int
    ov_precision: str
    seeds: tuple[int, ...]
    out: str  # the bench's output folder
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able spec."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        plain = {"recipe": self.recipe.to_dict(), "suite": self.suite.to_dict()}
        return {**fields, **plain, "backends": list(self.backends), "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerJob:
        """The job of a spec file."""
        typed = {"recipe": Recipe.from_dict(data["recipe"]), "suite": Suite(**data["suite"])}
        return cls(**{**data, **typed, "backends": tuple(data["backends"]), "seeds": tuple(data["seeds"])})

    def run_dir(self, category: str, seed: int) -> Path:
        """The Engine folder of one fit (its checkpoint lies below it), for ``benchmarks/retest.py`` too."""
        return Path(self.out) / "runs" / self.model / category / f"seed{seed}"

    @property
    def gallery_dir(self) -> Path:
        """Where the gallery maps go."""
        return Path(self.out) / "gallery"

    @property
    def curves_dir(self) -> Path:
        """Where the learning curves go."""
        return Path(self.out) / "curves"


def say(msg: str) -> None:
    """A progress line of the driver or a worker."""
    print(f"[anomalib-kd bench] {msg}", flush=True)


def _test_images(datamodule: Any, count: int = 8) -> Any:
    """Up to ``count`` real test images as the datamodule delivers them (the model's own pre-processor resizes)."""
    batch = next(iter(datamodule.test_dataloader()))
    return batch.image[:count].contiguous()


def _openvino(
    engine: Any, model: Any, datamodule: Any, images: Any, workdir: Path, job: WorkerJob, first: bool
) -> dict[str, Any]:
    """Export to OpenVINO through anomalib (FP32, and INT8 with ``openvino-int8``), time on the first category and
    score both graphs on every test set (INT8 only); a missing ``export`` extra is reported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return {"note": "openvino: install the export extra"}
    from anomalib_kd_plugins.deploy import compile_openvino, export_openvino

    from .measure import deployed_metrics, openvino_timings

    int8 = "openvino-int8" in job.backends
    if not (first or (int8 and job.quality)):  # nothing to time, nothing to score
        return {}
    row: dict[str, Any] = {}
    size, precision = tuple(images.shape[-2:]), job.ov_precision
    fp32_xml = export_openvino(engine, model, workdir / "export", size)
    if first:  # latency does not depend on the category: time once
        say(f"{job.model}: timing OpenVINO (inference precision: {precision})")
        row.update(openvino_timings(str(fp32_xml), images, job.repeats, precision))
        say(f"{job.model}: OpenVINO ran in {row.get('ov_precision', '?')}")
    if int8:
        say(f"{job.model}: INT8 post-training quantization (NNCF) and scoring both graphs")
        int8_xml = export_openvino(engine, model, workdir / "export_int8", size, datamodule=datamodule)
        if first:
            timings = openvino_timings(str(int8_xml), images, job.repeats, precision)
            row.update({k.replace("ov_", "int8_", 1): v for k, v in timings.items() if k != "ov_precision"})
        if job.quality:
            row.update(deployed_metrics(compile_openvino(fp32_xml, "f32"), datamodule, "ov_"))
            row.update(deployed_metrics(compile_openvino(int8_xml, "f32"), datamodule, "int8_"))
    return row


def _unclamped_normalize(preds: Any, norm_min: Any, norm_max: Any, threshold: Any) -> Any:
    """anomalib's min-max normalisation without its clamp to [0, 1], squashed into (0, 1) by a monotone sigmoid.

    The squash keeps every value inside [0, 1], so torchmetrics does not apply its own sigmoid (which it does to any
    batch with values outside [0, 1], saturating PatchCore's raw distances), and it keeps every ranking: AUROC, AP
    and PRO are then those of the raw maps and scores.
    """
    import torch

    if preds is None:
        return preds
    threshold = torch.where(torch.isnan(threshold), (norm_max + norm_min) / 2, threshold)
    value_range = torch.where(norm_max > norm_min, norm_max - norm_min, torch.ones_like(norm_max))
    return torch.sigmoid(4 * (preds - threshold) / value_range)


def _raw_metrics(engine: Any, model: Any, datamodule: Any) -> dict[str, float]:
    """The ranking metrics again without the post-processor's clamp (columns ``raw_*``).

    anomalib's PostProcessor normalises maps with the validation min/max and threshold, then clamps them to [0, 1],
    and the evaluator scores those. The clamp ties every pixel beyond the validation range at 0 or 1, which can move
    AUROC, AP and PRO; this measures by how much. Only the threshold-free metrics are recomputed.
    """
    post = model.post_processor
    if not hasattr(post, "_normalize"):
        return {}
    post._normalize = _unclamped_normalize  # an instance attribute shadows the static method for this test only
    try:
        raw = engine.test(model, datamodule=datamodule, verbose=False)[0]
    finally:
        del post._normalize
    return {f"raw_{m}": float(raw[m]) for m in RANKING_METRICS if m in raw}


def _gallery_maps(model: Any, datamodule: Any, path: Path) -> None:
    """Save the maps of a fixed choice of test images (the first of each defect type and of ``good``) for the gallery.

    The choice depends only on the (sorted, seeded) test split, so every model's maps are of the same images.
    """
    import numpy as np
    import torch

    seen: set[str] = set()
    images, masks, names = [], [], []
    for batch in datamodule.test_dataloader():
        for j, image_path in enumerate(batch.image_path):
            kind = Path(image_path).parent.name
            if kind in seen:
                continue
            seen.add(kind)
            images.append(batch.image[j])
            mask = batch.gt_mask[j] if batch.gt_mask is not None else torch.zeros(batch.image.shape[-2:])
            masks.append(mask.reshape(batch.image.shape[-2:]).float())
            names.append(f"{kind}/{Path(image_path).name}")
    with torch.inference_mode():
        output = model.eval()(torch.stack(images))
    if output.anomaly_map is None:  # an image-level model: no map to show
        return
    maps = output.anomaly_map.float().reshape(len(images), *images[0].shape[-2:])
    np.savez_compressed(
        path,
        images=(torch.stack(images).clamp(0, 1) * 255).byte().numpy(),
        masks=torch.stack(masks).numpy() > 0.5,
        maps=maps.numpy().astype(np.float16),
        names=np.array(names),
    )


def _has_teacher(spec: Recipe) -> bool:
    """Whether the recipe names a backbone and its layers (the teacher ``torch_timings`` times alone)."""
    return "backbone" in spec.init_args and "layers" in spec.init_args


def run(job: WorkerJob) -> list[dict[str, Any]]:
    """Fit, test and time one model on each category of the suite, once per seed; rows for the report."""
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.training import fit_and_test

    from .curves import curve_logger, save_curves
    from .measure import model_size, peak_rss_mb, torch_timings
    from .suites import NEEDS_WEIGHTS

    name, suite, quality, seeds = job.model, job.suite, job.quality, job.seeds
    preset = job.recipe if quality else job.recipe.with_args(pre_trained=False)
    rows = []
    runs = [(seed, category) for seed in seeds for category in suite.categories]
    for i, (seed, category) in enumerate(runs, 1):
        say(f"{name} · {category} · seed {seed} ({i}/{len(runs)}): fit and test, {preset.trainer}")
        seed_everything(seed, workers=True)  # every model and category starts from the same seed
        datamodule = suite.datamodule(category, preset.train_batch_size)
        workdir = job.run_dir(category, seed)
        metrics, engine, model = fit_and_test(
            preset,
            datamodule,
            workdir,
            model_overrides={"visualizer": False},
            trainer_overrides={
                "enable_progress_bar": job.progress,
                "enable_model_summary": False,
                "logger": curve_logger(workdir),
            },
        )
        save_curves(workdir, job.curves_dir / f"{name}__{category}__seed{seed}.csv")
        raw = _raw_metrics(engine, model, datamodule) if quality else {}
        if quality and seed == seeds[0]:
            _gallery_maps(model, datamodule, job.gallery_dir / f"{name}__{category}.npz")
        images = _test_images(datamodule)
        say(f"{name} · {category}: timing torch eager on {tuple(images.shape)} real test images")
        row: dict[str, Any] = {
            "suite": suite.name,
            "model": name,
            "category": category,
            "seed": seed,
            "backbone": preset.init_args.get("backbone", "none (from scratch)"),
            "pre_trained": quality,
            "image_size": preset.image_size,
            "train": json.dumps(preset.trainer),
            **({m: metrics.get(m) for m in METRICS} if quality else {}),
            **raw,
            "fit_s": metrics["fit_s"],
            **torch_timings(model, images, job.repeats, preset if _has_teacher(preset) else None),
            **model_size(model),
        }
        if {"openvino", "openvino-int8"} & set(job.backends):
            row.update(_openvino(engine, model, datamodule, images, workdir, job, first=i == 1))
        if not quality:
            row["note"] = NEEDS_WEIGHTS
        rows.append(row)
        del engine, model, datamodule
    for row in rows:  # the process's peak over all categories: one figure per model
        row["peak_rss_mb"] = peak_rss_mb()
    return rows


def main(argv: list[str] | None = None) -> int:
    """``SPEC.json RESULT.json``."""
    from anomalib_kd_plugins.console import quiet_console
    from anomalib_kd_plugins.weights import go_offline

    quiet_console()
    go_offline()  # offline first: weights only from the seeded local cache
    spec_path, out_path = argv or sys.argv[1:]
    job = WorkerJob.from_dict(json.loads(Path(spec_path).read_text()))
    start = time.perf_counter()
    rows = run(job)
    Path(out_path).write_text(json.dumps(rows, indent=1))
    say(f"{job.model}: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
