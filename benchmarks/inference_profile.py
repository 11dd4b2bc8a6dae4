"""Where inference time goes: each model's eager forward broken down by part, against the teacher-feature floor.

    python benchmarks/inference_profile.py [--sizes 128 256] [--batches 1 8] [--iters 30] [--threads N]

For the CPU recipes (``adps_cpu``, ``dmdd_cpu``, ``patchcore_cpu``), one process, torch eager, ``inference_mode``:
the full ``model(images)`` (anomalib's pre-processor → torch model → post-processor) is timed, and forward hooks time
each top-level part of the torch model (teacher, student, PSM, segmentation head, smoothing, ...). What no hook
covers inside the torch model (the WMB, patch folding, DMDD's fusion, resizes) is reported as "glue". The floor is the
teacher's feature extractor alone on pre-processed images. Weights are random (time does not depend on them); the
PatchCore memory bank is the size a 60-image training set gives at 128² (10 % coreset), filled at random.

Prints one markdown table: median ms per part over ``--iters`` calls after warm-up, its share of the model's total,
each model's total as a multiple of the floor measured in the same run, and each part's floating-point operations
(``torch.utils.flop_counter``: convolutions and matrix products, 2 per multiply-add) with their multiple of the
floor's, and the rate each part reaches (GFLOP/s). The rate says which parts are compute-bound: a part that runs
near the best rate any part reaches on the machine cannot get much faster without doing less arithmetic, however
its memory traffic is arranged. The calls run in interleaved rounds (floor, model, model, ..., repeated), so drift
of this shared machine hits all of them alike. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

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
    """A CPU recipe's model (by config name) with random weights at ``size``², ready for eval."""
    from anomalib_kd_plugins.components.backbone import backbone_pre_processor
    from anomalib_kd_plugins.recipes import by_name, model_class

    spec = by_name(preset)
    cls = model_class(spec.model)
    args = {**spec.constructor_args(), "pre_trained": False, "visualizer": False}
    if spec.model == "Adps":
        args["student_pretrained"] = False
    pre = backbone_pre_processor((size, size), args.get("backbone"), spec.normalization)
    model = cls(**args, pre_processor=pre).eval()
    if spec.model == "Patchcore":
        with torch.inference_mode():
            features = model.model.feature_extractor(torch.zeros(1, 3, size, size))
        dim = sum(features[layer].shape[1] for layer in args["layers"])
        bank = 60 * (size // 8) ** 2 // 10  # 60 images, stride-8 patches, 10 % coreset
        model.model.memory_bank = torch.randn(bank, dim)
    return model


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def rate(gflop: float, ms: float) -> str:
    """GFLOP/s of a part, blank for parts that do (almost) no counted arithmetic."""
    return f"{1000 * gflop / ms:.0f}" if gflop >= 0.01 and ms > 0 else ""


class ModelProfile:
    """One model's samples: total ms per call and per part (pre/post-processing and glue included)."""

    def __init__(self, preset: str, size: int, batch: int) -> None:
        self.model = build(preset, size)
        self.images = torch.rand(batch, 3, size, size)
        self.parts = PARTS[type(self.model).__name__]
        self.timer = PartTimer(self.model.model, self.parts)
        self.totals: list[float] = []
        self.samples: dict[str, list[float]] = defaultdict(list)

    def run(self, calls: int) -> None:
        """``calls`` timed calls of pre-processor → torch model → post-processor."""
        model = self.model
        with torch.inference_mode():
            for _ in range(calls):
                self.timer.take()
                t0 = time.perf_counter()
                x = model.pre_processor(self.images)
                t1 = time.perf_counter()
                out = model.model(x)
                t2 = time.perf_counter()
                model.post_processor(out)
                t3 = time.perf_counter()
                hooked = self.timer.take()
                self.totals.append(t3 - t0)
                self.samples["pre-processing"].append(t1 - t0)
                for name in self.parts:
                    self.samples[LABELS.get(name, name)].append(hooked.get(name, 0.0))
                self.samples["glue"].append((t2 - t1) - sum(hooked.values()))
                self.samples["post-processing"].append(t3 - t2)

    def flops(self) -> tuple[float, dict[str, float]]:
        """(total GFLOP of the torch model, {part: GFLOP}) for one call; pre/post-processing do no matmul or conv."""
        x = self.model.pre_processor(self.images)
        with torch.inference_mode(), FlopCounterMode(display=False, depth=None) as counter:
            self.model.model(x)
        counts = counter.get_flop_counts()
        prefix = type(self.model.model).__name__
        parts = {LABELS.get(n, n): sum(counts.get(f"{prefix}.{n}", {}).values()) / 1e9 for n in self.parts}
        return counter.get_total_flops() / 1e9, parts

    def result(self) -> tuple[float, dict[str, float]]:
        """(median total ms, {part: median ms})."""
        return median_ms(self.totals), {name: median_ms(v) for name, v in self.samples.items()}


class FloorProfile:
    """The CPU recipes' lite0 teacher features alone, built as the models build it (``bench.measure``)."""

    def __init__(self, size: int, batch: int) -> None:
        from anomalib_kd_plugins.bench.measure import teacher_forward
        from anomalib_kd_plugins.recipes import recipe

        self.forward = teacher_forward(recipe("Adps").replace(image_size=size), torch.rand(batch, 3, size, size))
        self.totals: list[float] = []

    def flops(self) -> float:
        """GFLOP of one floor call."""
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            self.forward()
        return counter.get_total_flops() / 1e9

    def run(self, calls: int) -> None:
        with torch.inference_mode():
            for _ in range(calls):
                start = time.perf_counter()
                self.forward()
                self.totals.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--iters", type=int, default=40, help="timed calls per model (after 3 warm-up calls)")
    parser.add_argument("--rounds", type=int, default=5, help="the calls are spread over rounds, models interleaved")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.iters} calls per model\n")
    print("| size | batch | model | part | ms | % of model | × teacher floor | GFLOP | × floor GFLOP | GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for batch in args.batches:
            floor = FloorProfile(size, batch)
            models = {preset: ModelProfile(preset, size, batch) for preset in args.models}
            for profile in (floor, *models.values()):
                profile.run(3)  # warm-up, then forget it
                profile.totals.clear()
                getattr(profile, "samples", {}).clear()
            # interleaved rounds: a slow spell of the machine hits every model alike, so the ratios hold
            for _ in range(args.rounds):
                for profile in (floor, *models.values()):
                    profile.run(max(1, args.iters // args.rounds))
            base, base_gflop = median_ms(floor.totals), floor.flops()
            floor_cells = f"{base:.1f} | | 1.00 | {base_gflop:.3f} | 1.00 | {rate(base_gflop, base)}"
            print(f"| {size} | {batch} | teacher features (floor) | all | {floor_cells} |")
            for preset, profile in models.items():
                total, parts = profile.result()
                gflop, part_gflop = profile.flops()
                print(
                    f"| {size} | {batch} | {preset} | **total** | **{total:.1f}** | 100 | **{total / base:.2f}** | "
                    f"**{gflop:.3f}** | **{gflop / base_gflop:.2f}** | {rate(gflop, total)} |"
                )
                for part, ms in parts.items():
                    g = part_gflop.get(part)
                    flop_cells = f"{g:.3f} | {g / base_gflop:.2f} | {rate(g, ms)}" if g is not None else " | | "
                    print(f"| | | | {part} | {ms:.1f} | {100 * ms / total:.0f} | {ms / base:.2f} | {flop_cells} |")


if __name__ == "__main__":
    main()
