"""Speed and memory measurements for the benchmark: median latency after warm-up, throughput, size, peak RSS."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anomalib_kd_plugins.recipes import Recipe


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB: what ``/usr/bin/time -v anomalib train`` reports.

    On Linux that is ``VmHWM`` (the high-water mark of this process's own memory since it started its program).
    ``ru_maxrss`` is not: Linux carries it over ``exec`` from the forked parent, so every bench worker would report
    at least the driver's resident size (1.3 GB once the driver has built the derived peers). Elsewhere
    ``ru_maxrss`` (KiB, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 2**10
    except (OSError, StopIteration, ValueError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def current_rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * resource.getpagesize() / 2**20


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns: dict[str, Callable[[], Any]], repeats: int, rounds: int = 5) -> dict[str, float]:
    """Median seconds of each function, timed in interleaved rounds so that a slow spell of the machine hits all."""
    for fn in fns.values():
        fn(), fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(max(1, repeats // rounds)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def teacher_forward(preset: Recipe, images: Any) -> Callable[[], Any]:
    """A forward of the preset's teacher alone on ``images`` resized to the preset's size: its backbone's features at
    its layers, built as the models build it (pruned after the deepest layer; random weights: the time does not
    depend on them). The floor of any distillation model."""
    import torch.nn.functional as F

    from anomalib_kd_plugins.components.backbone import build_feature_extractor

    args = preset.init_args
    teacher = build_feature_extractor(args["backbone"], list(args["layers"]), pre_trained=False, requires_grad=False)
    teacher.eval()
    size = preset.image_size
    x = F.interpolate(images, size=(size, size), mode="bilinear")
    return lambda: teacher(x)


def torch_timings(model: Any, images: Any, repeats: int, preset: Recipe | None = None) -> dict[str, float]:
    """Eager torch latency (ms/image at batch 1) and throughput (images/s at batch 8) of the full module.

    ``model(images)`` is what the exported graph computes too: pre-processor → network → post-processor. With
    ``preset``, its teacher alone is timed too, interleaved with the batch-1 calls (``floor_ms_b1``).
    """
    import torch

    model.eval()
    batch8 = _batch(images, 8)
    with torch.inference_mode():
        fns = {"model": lambda: model(images[:1])}
        if preset is not None:
            fns["floor"] = teacher_forward(preset, images[:1])
        b1 = interleaved_medians(fns, repeats)
        b8 = median_seconds(lambda: model(batch8), max(1, repeats // 4))
    out = {"latency_ms_b1": 1000 * b1["model"], "throughput_ips_b8": len(batch8) / b8}
    if preset is not None:
        out["floor_ms_b1"] = 1000 * b1["floor"]
    return out


def openvino_timings(xml_path: str, images: Any, repeats: int, precision: str = "default") -> dict[str, Any]:
    """OpenVINO (CPU plugin) latency and throughput of an exported model on the same images as the torch timing.

    ``precision`` is passed as the inference-precision hint (``default`` = the plugin's choice, bf16 on CPUs that
    support it); the precision the plugin really used is returned as ``ov_precision``, since speed depends on it.
    """
    from anomalib_kd_plugins.deploy import compile_openvino, inference_precision

    compiled = compile_openvino(xml_path, precision)
    one = images[:1].numpy()
    eight = _batch(images, 8).numpy()
    b1 = median_seconds(lambda: compiled([one]), repeats)
    b8 = median_seconds(lambda: compiled([eight]), max(1, repeats // 4))
    return {
        "ov_latency_ms_b1": 1000 * b1,
        "ov_throughput_ips_b8": len(eight) / b8,
        "ov_precision": inference_precision(compiled),
    }


def _batch(images: Any, size: int) -> Any:
    """``size`` images, repeating the given ones if there are fewer."""
    import torch

    reps = -(-size // len(images))
    return torch.cat([images] * reps)[:size].contiguous()


def model_size(model: Any) -> dict[str, float]:
    """Parameters (millions, all of them, frozen teachers included) and the saved state size (MiB, memory banks too)."""
    params = sum(p.numel() for p in model.model.parameters())
    state = sum(t.numel() * t.element_size() for t in model.model.state_dict().values())
    return {"params_m": params / 1e6, "state_mb": state / 2**20}


def deployed_metrics(compiled: Any, datamodule: Any, prefix: str) -> dict[str, float]:
    """Pixel AP, PRO (FPR ≤ 0.3) and image AUROC of a compiled OpenVINO model on the datamodule's test set.

    ``PaperEvaluator``'s own metrics, on the exported graph's outputs (its post-processor included), so they compare
    with ``engine.test`` figures. Keys are ``prefix`` + the metric name.
    """
    import torch

    from anomalib_kd_plugins.components.evaluator import PaperEvaluator
    from anomalib_kd_plugins.deploy import openvino_outputs
    from anomalib_kd_plugins.metrics import CELL

    metrics = [metric for metric in PaperEvaluator().test_metrics if metric.name in CELL]
    for batch in datamodule.test_dataloader():
        out = openvino_outputs(compiled, batch.image)
        scores = torch.from_numpy(out["pred_score"]).reshape(-1)
        maps = torch.from_numpy(out["anomaly_map"]).reshape(len(scores), *batch.image.shape[-2:])
        batch = batch.update(pred_score=scores, anomaly_map=maps)
        for metric in metrics:
            metric.update(batch)
    return {prefix + metric.name: float(metric.compute()) for metric in metrics}
