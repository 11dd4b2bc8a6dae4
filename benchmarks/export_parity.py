"""Parity and latency of the exported graphs (ONNX Runtime, OpenVINO f32 and default precision) against torch eager.

Uses the checkpoints an ``anomalib-kd bench`` run left in ``--bench-out`` (default ``bench_output``), so the
models are the benchmark's trained ones, on real test photographs of one category. For each backend it prints the
max |Δ| of scores and maps per batch and input size, how alike the maps rank pixels (Spearman ρ, and pixel AUROC
against the ground-truth masks next to torch's), and ms/image at batch 1 and images/s at batch 8.

OpenVINO is measured twice: with ``INFERENCE_PRECISION_HINT=f32`` pinned, and at the CPU plugin's default, which
is bfloat16 on CPUs with avx512_bf16/AMX and f32 elsewhere; the table says which one ran. A measurement, not a test
(the tests check f32 values within 1e-3 and the default's ranking).

    anomalib-kd bench --backends torch openvino && python benchmarks/export_parity.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
from functools import partial
from pathlib import Path


def _timings(name: str, model, backends: dict, images, repeats: int) -> list[tuple]:
    """Median ms/image at batch 1 and images/s at batch 8 for torch eager and each exported backend."""
    import torch

    from anomalib_kd_plugins.bench.measure import median_seconds

    runners = {"torch eager": model}
    runners.update({b: partial(run, graph) for b, (graph, _, run) in backends.items()})
    rows = []
    with torch.inference_mode():
        for backend, fn in runners.items():
            t1 = median_seconds(partial(fn, images[:1]), repeats)
            t8 = median_seconds(partial(fn, images), max(1, repeats // 4))
            rows.append((name, backend, 1000 * t1, len(images) / t8))
    return rows


def _backends(model, size: tuple[int, int], tmp: Path) -> dict:
    """Export once to ONNX (fixed size and dynamic) and OpenVINO IR; sessions per backend and precision."""
    from anomalib_kd_plugins.deploy import (
        compile_openvino,
        inference_precision,
        onnxruntime_outputs,
        onnxruntime_session,
        openvino_outputs,
    )

    fixed = model.to_onnx(tmp / "fixed", input_size=size, opset_version=18)
    dynamic = model.to_onnx(tmp / "dynamic", opset_version=18)
    xml = model.to_openvino(tmp / "ov", input_size=size, onnx_kwargs={"opset_version": 18})
    backends = {"onnxruntime": (onnxruntime_session(fixed), onnxruntime_session(dynamic), onnxruntime_outputs)}
    for precision in ("f32", "default"):
        graph = compile_openvino(xml, precision)
        label = f"openvino {precision} ({inference_precision(graph)})"
        backends[label] = (graph, compile_openvino(dynamic, precision), openvino_outputs)
    return backends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-out", default="bench_output")
    parser.add_argument("--models", nargs="+", default=["Adps", "Dmdd"])
    parser.add_argument("--category", default="brick")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights only from the seeded local cache

    import torch
    from anomalib.data import MVTecAD

    import anomalib_kd_plugins
    from anomalib_kd_plugins.deploy import map_agreement, max_abs_errors, torch_outputs

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = Path(args.bench_out)
    dm = MVTecAD(root=out / "data", category=args.category, eval_batch_size=8, num_workers=0)
    dm.setup("test")
    batches = list(dm.test_dataloader())
    images = batches[0].image
    all_images, all_masks = torch.cat([b.image for b in batches]), torch.cat([b.gt_mask for b in batches])
    size = tuple(images.shape[-2:])
    parity, ranking, speed = [], [], []
    for name in args.models:
        ckpts = sorted((out / "runs" / name / args.category).rglob("model.ckpt"))
        if not ckpts:
            raise SystemExit(f"No {name} checkpoint under {out}/runs; run `anomalib-kd bench --out {out}` first")
        model = getattr(anomalib_kd_plugins, name).load_from_checkpoint(ckpts[-1], weights_only=True).eval()
        with tempfile.TemporaryDirectory() as tmp:
            backends = _backends(model, size, Path(tmp))
            for backend, (graph, dyn_graph, run) in backends.items():
                for batch in (1, 8):
                    errors = max_abs_errors(torch_outputs(model, images[:batch]), run(graph, images[:batch]))
                    parity.append((name, backend, f"fixed {size[0]}², batch {batch}", *errors.values()))
                for side in (96, 160, 256):
                    x = torch.nn.functional.interpolate(images[:3], size=(side, side), mode="bilinear", antialias=True)
                    errors = max_abs_errors(torch_outputs(model, x.clamp(0, 1)), run(dyn_graph, x.clamp(0, 1)))
                    parity.append((name, backend, f"dynamic {side}², batch 3", *errors.values()))
                ref = torch_outputs(model, all_images)["anomaly_map"]
                agreement = map_agreement(ref, run(graph, all_images)["anomaly_map"], all_masks)
                ranking.append((name, backend, len(all_images), *agreement.values()))
            speed += _timings(name, model, backends, images, args.repeats)
    print(f"{args.category}, {size[0]}² real test photographs; OpenVINO label: hint (precision that ran)\n")
    print("| model | backend | input | max abs err pred_score | max abs err anomaly_map |\n|---|---|---|---|---|")
    for row in parity:
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.2e} | {row[4]:.2e} |")
    print("\n| model | backend | test images | Spearman ρ of maps | pixel AUROC torch | pixel AUROC backend |")
    print("|---|---|---|---|---|---|")
    for row in ranking:
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.5f} | {row[4]:.4f} | {row[5]:.4f} |")
    print("\n| model | backend | ms/image, batch 1 | images/s, batch 8 |\n|---|---|---|---|")
    for row in speed:
        print(f"| {row[0]} | {row[1]} | {row[2]:.1f} | {row[3]:.1f} |")
    print("\nSummary (the README's table; max |Δ| over every input above):\n")
    print(_summary(parity, ranking, speed))
    return 0


def _summary(parity: list[tuple], ranking: list[tuple], speed: list[tuple]) -> str:
    """One row per model and backend: worst |Δ|, ranking agreement, pixel AUROC and speed."""
    head = "| model | backend (precision that ran) | max \\|Δ\\| score | max \\|Δ\\| map | Spearman ρ of maps | "
    lines = [head + "pixel AUROC | ms/img (b1) | img/s (b8) |", "|---|---|---|---|---|---|---|---|"]
    auroc = {(r[0], r[1]): r for r in ranking}
    for name, backend, latency, throughput in speed:
        errors = [r for r in parity if r[:2] == (name, backend)]
        if not errors:  # torch eager, the reference
            ref = next(r for r in ranking if r[0] == name)
            lines.append(f"| {name} | {backend} | – | – | – | {ref[4]:.4f} | {latency:.1f} | {throughput:.1f} |")
            continue
        score, amap = max(r[3] for r in errors), max(r[4] for r in errors)
        rank = auroc[(name, backend)]
        cells = f"{score:.1e} | {amap:.1e} | {rank[3]:.5f} | {rank[5]:.4f} | {latency:.1f} | {throughput:.1f}"
        lines.append(f"| {name} | {backend} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
