"""Where inference time goes: each model's eager forward broken down by part, against the teacher-feature floor.

    python benchmarks/inference_profile.py [--sizes 128 256] [--batches 1 8] [--iters 30] [--threads N]

For the CPU presets (``adps_cpu``, ``dmdd_cpu``, ``patchcore_cpu``), one process, torch eager, ``inference_mode``:
the full ``model(images)`` (anomalib's pre-processor → torch model → post-processor) is timed, and forward hooks time
each top-level part of the torch model (teacher, student, PSM, segmentation head, smoothing, ...). What no hook
covers inside the torch model (the WMB, patch folding, DMDD's fusion, resizes) is reported as "glue". The floor is the
teacher's feature extractor alone on pre-processed images. Weights are random (time does not depend on them); the
PatchCore memory bank is the size a 60-image training set gives at 128² (10 % coreset), filled at random.

Prints one markdown table: median ms per part over ``--iters`` calls after warm-up, its share of the model's total,
and each model's total as a multiple of the floor measured in the same run. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

import torch

MODELS = ("adps_cpu", "dmdd_cpu", "patchcore_cpu")
# the parts of each torch model, hooked as they are named there (anything else the forward does is "glue")
PARTS = {
    "Adps": ("teacher", "student", "psm", "anomaly_map_generator"),
    "Dmdd": (
        "teacher",
        "student_encoder",
        "student_decoder",
        "decouple",
        "segmentation.body",
        "segmentation.head",
        "anomaly_map_generator",
    ),
    "Patchcore": ("feature_extractor", "feature_pooler", "anomaly_map_generator"),
}
LABELS = {"anomaly_map_generator": "map + smoothing", "feature_extractor": "teacher", "feature_pooler": "pooling"}


class PartTimer:
    """Forward pre/post hooks that add each part's wall time (CPU: synchronous) to a running total."""

    def __init__(self, model: torch.nn.Module, parts: tuple[str, ...]) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.handles = []
        for name in parts:
            module = model.get_submodule(name)
            # a ModuleList is never called itself: time its members under its name
            for member in module if isinstance(module, torch.nn.ModuleList) else [module]:
                self.handles.append(member.register_forward_pre_hook(self._start(name)))
                self.handles.append(member.register_forward_hook(self._stop(name)))
        self._started: dict[str, float] = {}

    def _start(self, name: str):
        def hook(*_: Any) -> None:
            self._started[name] = time.perf_counter()

        return hook

    def _stop(self, name: str):
        def hook(*_: Any) -> None:
            self.totals[name] += time.perf_counter() - self._started.pop(name)

        return hook

    def take(self) -> dict[str, float]:
        """The totals since the last call (seconds), reset."""
        out, self.totals = dict(self.totals), defaultdict(float)
        return out


def build(preset: str, size: int) -> Any:
    """A preset's model with random weights at ``size``², ready for eval."""
    from anomalib_kd_plugins.components.backbone import backbone_pre_processor
    from anomalib_kd_plugins.presets import PRESETS, model_class

    spec = PRESETS[preset]
    cls = model_class(spec["model"])
    args = {**spec["init_args"], "pre_trained": False, "visualizer": False}
    if spec["model"] == "Adps":
        args["student_pretrained"] = False
    pre = backbone_pre_processor((size, size), args.get("backbone"), spec.get("normalization", "backbone"))
    model = cls(**args, pre_processor=pre).eval()
    if spec["model"] == "Patchcore":
        with torch.inference_mode():
            features = model.model.feature_extractor(torch.zeros(1, 3, size, size))
        dim = sum(features[layer].shape[1] for layer in args["layers"])
        bank = 60 * (size // 8) ** 2 // 10  # 60 images, stride-8 patches, 10 % coreset
        model.model.memory_bank = torch.randn(bank, dim)
    return model


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def profile(preset: str, size: int, batch: int, iters: int) -> tuple[float, dict[str, float]]:
    """(total ms, {part: ms}) for one model, size and batch; parts include pre/post-processing and glue."""
    model = build(preset, size)
    images = torch.rand(batch, 3, size, size)
    parts = PARTS[type(model).__name__]
    timer = PartTimer(model.model, parts)
    totals, per_part, pre_post = [], defaultdict(list), defaultdict(list)
    with torch.inference_mode():
        for i in range(iters + 3):
            timer.take()
            start = time.perf_counter()
            t0 = time.perf_counter()
            x = model.pre_processor(images) if callable(model.pre_processor) else images
            t1 = time.perf_counter()
            out = model.model(x)
            t2 = time.perf_counter()
            model.post_processor(out) if callable(model.post_processor) else out
            end = time.perf_counter()
            if i < 3:  # warm-up
                continue
            totals.append(end - start)
            hooked = timer.take()
            for name in parts:
                per_part[name].append(hooked.get(name, 0.0))
            per_part["glue"].append((t2 - t1) - sum(hooked.values()))
            pre_post["pre-processing"].append(t1 - t0)
            pre_post["post-processing"].append(end - t2)
    result = {"pre-processing": median_ms(pre_post["pre-processing"])}
    result.update({LABELS.get(n, n): median_ms(v) for n, v in per_part.items()})
    result["post-processing"] = median_ms(pre_post["post-processing"])
    return median_ms(totals), result


def floor(size: int, batch: int, iters: int) -> float:
    """ms of the lite0 teacher's feature extractor alone (the CPU presets' teacher), pre-processed input."""
    model = build("adps_cpu", size).model.teacher
    x = torch.rand(batch, 3, size, size)
    samples = []
    with torch.inference_mode():
        for i in range(iters + 3):
            start = time.perf_counter()
            model(x)
            if i >= 3:
                samples.append(time.perf_counter() - start)
    return median_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.iters} calls\n")
    print("| size | batch | model | part | ms | % of model | × teacher floor |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for batch in args.batches:
            base = floor(size, batch, args.iters)
            print(f"| {size} | {batch} | teacher features (floor) | all | {base:.1f} | | 1.00 |")
            for preset in args.models:
                total, parts = profile(preset, size, batch, args.iters)
                print(f"| {size} | {batch} | {preset} | **total** | **{total:.1f}** | 100 | **{total / base:.2f}** |")
                for part, ms in parts.items():
                    print(f"| | | | {part} | {ms:.1f} | {100 * ms / total:.0f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
