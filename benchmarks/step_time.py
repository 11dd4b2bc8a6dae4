"""Training-step time of Adps and Dmdd on this machine, measured inside a real Lightning fit.

    python benchmarks/step_time.py [--size 256] [--batch 8] [--steps 4] [--backbones NAME ...]

A step is what Lightning times between ``on_train_batch_start`` and ``on_train_batch_end``: anomaly synthesis,
forward, loss, backward and optimiser step. The first step is warm-up; the median of the others is reported (for
DMDD, per phase). Backbones are randomly initialised (timing does not depend on the weights). Real-photo images, no
download. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback


class StepTimer(Callback):
    """Record each training step's wall time and the model's phase."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float]] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        phase = pl_module.phase(batch_idx) if hasattr(pl_module, "phase") else "joint"
        self.records.append((phase, time.perf_counter() - self._start))


def measure(name: str, backbone: str, root: Path, size: int, batch: int, steps: int) -> dict[str, float]:
    """Median step seconds per phase for one model/backbone."""
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    import anomalib_kd_plugins

    cls = getattr(anomalib_kd_plugins, name)
    extra = {"student_phase_fraction": 0.5} if name == "Dmdd" else {}
    model = cls(
        backbone=backbone,
        pre_trained=False,
        visualizer=False,
        pre_processor=cls.configure_pre_processor(image_size=(size, size)),
        **extra,
    )
    timer = StepTimer()
    dm = MVTecAD(root=root, category="brick", train_batch_size=batch, eval_batch_size=batch, num_workers=0)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            logger=False,
            default_root_dir=tmp,
            callbacks=[timer],
            limit_val_batches=0,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        engine.fit(model, datamodule=dm)
    by_phase: dict[str, list[float]] = {}
    for phase, seconds in timer.records[1:]:  # drop the warm-up step
        by_phase.setdefault(phase, []).append(seconds)
    return {phase: statistics.median(values) for phase, values in by_phase.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="training steps per model (the first is warm-up)")
    parser.add_argument("--models", nargs="+", default=["Adps", "Dmdd"])
    parser.add_argument("--backbones", nargs="+", default=["wide_resnet50_2", "tf_efficientnet_lite0"])
    args = parser.parse_args()

    from anomalib_kd_plugins.data import BuildConfig, build

    with tempfile.TemporaryDirectory() as tmp:
        n = args.batch * args.steps
        root = build(
            tmp, ["brick"], BuildConfig(image_size=args.size, num_train=n, num_test_good=2, num_test_per_defect=1)
        )
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}² images, batch {args.batch}")
        print("| model | teacher | phase | s/step | ms/image | peak RSS so far (MB) |")
        print("|---|---|---|---|---|---|")
        for name in args.models:
            for backbone in args.backbones:
                for phase, seconds in measure(name, backbone, root, args.size, args.batch, args.steps).items():
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    per_image = 1000 * seconds / args.batch
                    print(
                        f"| {name} | {backbone} | {phase} | {seconds:.2f} | {per_image:.0f} | {rss:.0f} |", flush=True
                    )


if __name__ == "__main__":
    main()
