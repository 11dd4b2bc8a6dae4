"""One benchmark worker: one model over every category, in its own process so its peak RSS is its own.

Run by the driver as ``python -m anomalib_kd_plugins.bench.worker SPEC.json RESULT.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline first: weights only from the seeded local cache

METRICS = ("image_AUROC", "pixel_AUROC", "pixel_AUPR", "pixel_AUPRO", "image_F1Score", "pixel_F1Score")


def say(msg: str) -> None:
    """A progress line of the driver or a worker."""
    print(f"[anomalib-kd bench] {msg}", flush=True)


def _test_images(datamodule: Any, count: int = 8) -> Any:
    """Up to ``count`` real test images as the datamodule delivers them (the model's own pre-processor resizes)."""
    batch = next(iter(datamodule.test_dataloader()))
    return batch.image[:count].contiguous()


def _openvino(engine: Any, model: Any, images: Any, export_root: Path, repeats: int, precision: str) -> dict[str, Any]:
    """Export to OpenVINO through anomalib and time it at ``precision``; a missing ``export`` extra is reported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return {"note": "openvino: install the export extra"}
    from anomalib.deploy import ExportType

    from .measure import openvino_timings

    xml = engine.export(  # fixed H×W, dynamic batch; opset 18 is what torch's exporter emits anyway
        model,
        ExportType.OPENVINO,
        export_root=export_root,
        input_size=tuple(images.shape[-2:]),
        onnx_kwargs={"opset_version": 18},
    )
    return openvino_timings(str(xml), images, repeats, precision)


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Fit, test and time one model on each category of the suite; rows for the report."""
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.presets import fit_and_test_datamodule

    from .measure import model_size, peak_rss_mb, torch_timings
    from .suites import NEEDS_WEIGHTS, Suite

    preset, name = spec["preset"], spec["model"]
    suite = Suite(**spec["suite"])
    quality = spec["quality"]
    overrides = {} if quality else {"pre_trained": False}
    preset = {**preset, "init_args": {**preset["init_args"], **overrides}}
    rows = []
    for i, category in enumerate(suite.categories, 1):
        say(f"{name} · {category} ({i}/{len(suite.categories)}): fit and test, {preset['trainer']}")
        seed_everything(spec.get("seed", 0), workers=True)  # every model and category starts from the same seed
        datamodule = suite.datamodule(category, preset["train_batch_size"])
        workdir = Path(spec["workdir"]) / name / category
        metrics, engine, model = fit_and_test_datamodule(
            preset,
            datamodule,
            workdir,
            visualizer=False,
            enable_progress_bar=spec.get("progress", True),
            enable_model_summary=False,
        )
        images = _test_images(datamodule)
        say(f"{name} · {category}: timing torch eager on {tuple(images.shape)} real test images")
        row: dict[str, Any] = {
            "suite": suite.name,
            "model": name,
            "category": category,
            "backbone": preset["init_args"]["backbone"],
            "pre_trained": quality,
            "image_size": preset["image_size"],
            "train": json.dumps(preset["trainer"]),
            **({m: metrics.get(m) for m in METRICS} if quality else {}),
            "fit_s": metrics["fit_s"],
            **torch_timings(model, images, spec["repeats"]),
            **model_size(model),
        }
        if "openvino" in spec["backends"] and i == 1:  # latency does not depend on the category: time once
            precision = spec.get("ov_precision", "default")
            say(f"{name}: exporting to OpenVINO and timing it (inference precision: {precision})")
            row.update(_openvino(engine, model, images, workdir / "export", spec["repeats"], precision))
            say(f"{name}: OpenVINO ran in {row.get('ov_precision', '?')}")
        if not quality:
            row["note"] = NEEDS_WEIGHTS
        rows.append(row)
        del engine, model, datamodule
    for row in rows:  # the process's peak over all categories: one figure per model
        row["peak_rss_mb"] = peak_rss_mb()
    return rows


def main(argv: list[str] | None = None) -> int:
    """``SPEC.json RESULT.json``."""
    spec_path, out_path = argv or sys.argv[1:]
    spec = json.loads(Path(spec_path).read_text())
    start = time.perf_counter()
    rows = run(spec)
    Path(out_path).write_text(json.dumps(rows, indent=1))
    say(f"{spec['model']}: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
