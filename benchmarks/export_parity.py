"""Parity and latency of the exported graphs (ONNX Runtime, OpenVINO) against torch eager, on real photographs.

Uses the checkpoints an ``anomalib-kd bench`` run left in ``--bench-out`` (default ``bench_output``), so the
models are the benchmark's trained ones. Prints the max |Δ| of anomaly maps and scores per backend, batch and input
size, and ms/image at batch 1 and images/s at batch 8 per backend. A measurement, not a test (the tests check ≤ 1e-3).

    anomalib-kd bench --backends torch openvino && python benchmarks/export_parity.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIELDS = ("pred_score", "anomaly_map")


def _outputs_torch(model, images):
    import torch

    with torch.inference_mode():
        out = model(images)
    return {f: getattr(out, f).float().numpy() for f in FIELDS}


def _ort_session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _outputs_ort(session, images):
    names = [o.name for o in session.get_outputs()]
    out = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    return {f: out[names.index(f)] for f in FIELDS}


def _outputs_ov(compiled, images):
    out = compiled([images.numpy()])
    return {f: out[compiled.output(f)] for f in FIELDS}


def _errors(ref, other) -> tuple[float, float]:
    import numpy as np

    return tuple(float(np.abs(ref[f] - other[f].reshape(ref[f].shape)).max()) for f in FIELDS)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-out", default="bench_output")
    parser.add_argument("--models", nargs="+", default=["Adps", "Dmdd"])
    parser.add_argument("--category", default="brick")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import openvino as ov
    import torch
    from anomalib.data import MVTecAD

    import anomalib_kd_plugins

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = Path(args.bench_out)
    dm = MVTecAD(root=out / "data", category=args.category, eval_batch_size=8, num_workers=0)
    dm.setup("test")
    images = next(iter(dm.test_dataloader())).image
    size = tuple(images.shape[-2:])
    parity, speed = [], []
    for name in args.models:
        ckpts = sorted((out / "runs" / name / args.category).rglob("model.ckpt"))
        if not ckpts:
            raise SystemExit(f"No {name} checkpoint under {out}/runs; run `anomalib-kd bench --out {out}` first")
        model = getattr(anomalib_kd_plugins, name).load_from_checkpoint(ckpts[-1], weights_only=True).eval()
        with tempfile.TemporaryDirectory() as tmp:
            fixed = model.to_onnx(Path(tmp) / "fixed", input_size=size, opset_version=18)
            dynamic = model.to_onnx(Path(tmp) / "dynamic", opset_version=18)
            xml = model.to_openvino(Path(tmp) / "ov", input_size=size, onnx_kwargs={"opset_version": 18})
            backends = {
                "onnxruntime": (_ort_session(fixed), _ort_session(dynamic), _outputs_ort),
                "openvino": (
                    ov.Core().compile_model(str(xml), "CPU"),
                    ov.Core().compile_model(str(dynamic), "CPU"),
                    _outputs_ov,
                ),
            }
            for backend, (graph, dyn_graph, run) in backends.items():
                for batch in (1, 8):
                    x = images[:batch]
                    parity.append(
                        (
                            name,
                            backend,
                            f"fixed {size[0]}², batch {batch}",
                            *_errors(_outputs_torch(model, x), run(graph, x)),
                        )
                    )
                for side in (96, 160, 256):
                    x = torch.nn.functional.interpolate(images[:3], size=(side, side), mode="bilinear", antialias=True)
                    x = x.clamp(0, 1)
                    parity.append(
                        (
                            name,
                            backend,
                            f"dynamic {side}², batch 3",
                            *_errors(_outputs_torch(model, x), run(dyn_graph, x)),
                        )
                    )
            speed += _timings(name, model, backends, images, args.repeats)
    print("| model | backend | input | max abs err pred_score | max abs err anomaly_map |\n|---|---|---|---|---|")
    for row in parity:
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.2e} | {row[4]:.2e} |")
    print("\n| model | backend | ms/image, batch 1 | images/s, batch 8 |\n|---|---|---|---|")
    for row in speed:
        print(f"| {row[0]} | {row[1]} | {row[2]:.1f} | {row[3]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
