"""Round 17, section 6 (a diagnostic, not a benchmark): Dmdd's fusion scales measured on the training images as
loaded, turned a quarter, or mirrored, then the bench's validate and test on each; seed-0 checkpoints of a bench run.

    python docs/experiments/data/2026-12-06-round17/calib_probe.py r15c Dmdd > calib_probe.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from anomalib.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from retest import checkpoints, load

VIEWS = {
    "train": lambda x: x,
    "turned": lambda x: torch.rot90(x, 1, (-2, -1)),
    "flipped": lambda x: x.flip(-1),
}


def main(run: Path, model_name: str) -> None:
    for job, ckpt, category, seed in checkpoints(run, [model_name]):
        if seed != 0:
            continue
        for mode, view in VIEWS.items():
            _, model, datamodule = load(job, {"map_fusion_scale": "peak"}, ckpt, category, seed)
            datamodule.setup()
            transform = model.pre_processor.transform
            model.calibrate_map_fusion(view(transform(b.image)) for b in datamodule.train_dataloader())
            stats = [round(float(v), 4) for v in model.model.anomaly_map_generator.fusion.stats]
            engine = Engine(accelerator="cpu", devices=1, logger=False, default_root_dir=f"/tmp/calib_probe/{category}")
            engine.validate(model, datamodule=datamodule, verbose=False)
            metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
            row = {"category": category, "mode": mode, "stats": stats, "seg_over_kd": round(stats[1] / stats[3], 3)}
            row |= {m: round(float(metrics[m]), 4) for m in ("pixel_AUPR", "pixel_AUPRO", "image_AUROC")}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
