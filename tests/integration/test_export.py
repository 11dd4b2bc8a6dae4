"""Export through anomalib (ONNX, OpenVINO, torch): the graphs agree with torch eager on real photographs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_engine import tiny_model

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOL = 1e-3
FIELDS = ("pred_score", "anomaly_map")
# short fits that spread the image scores out (the post-processor divides by their range); Dmdd's 10-epoch range was
# 0.005 with one torch thread and 0.0055 with two, its 20-epoch range is 0.11-0.15 with either
FAST_LR = {"Adps": {"lr": 1e-2}, "Dmdd": {"lr_seg_head": 0.1, "lr_seg_body": 0.3, "student_phase_fraction": 0.1}}
EPOCHS = {"Adps": 10, "Dmdd": 20}


@pytest.fixture(scope="module", params=["Adps", "Dmdd"])
def exported(request: pytest.FixtureRequest, tiny_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A short fit per model on real photos, exported to ONNX at a fixed 64×64 and at a dynamic size.

    The ONNX exporter traces the eval forward with ``torch.export`` (anomalib.md §8), so these exports are also the
    traceability check.
    Trained enough that image scores spread out: the post-processor divides by their range, so a model with
    near-constant scores would amplify float rounding and make any parity check meaningless.
    """
    from anomalib.data import MVTecAD
    from anomalib.deploy import ExportType
    from anomalib.engine import Engine

    torch.manual_seed(0)
    model = tiny_model(request.param, **FAST_LR[request.param])
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=8, num_workers=0)
    root = tmp_path_factory.mktemp(f"export_{request.param}")
    engine = Engine(max_epochs=EPOCHS[request.param], accelerator="cpu", devices=1, default_root_dir=root, logger=False)
    engine.fit(model, datamodule=dm)
    assert model.post_processor.image_max - model.post_processor.image_min > 0.005  # normalisation gain ≤ 200×
    fixed = engine.export(model, ExportType.ONNX, export_root=root / "fixed", input_size=(64, 64))
    dynamic = engine.export(model, ExportType.ONNX, export_root=root / "dynamic")
    images = next(iter(dm.test_dataloader())).image  # 8 real test photographs, 64×64
    return engine, model.eval(), {"fixed": Path(fixed), "dynamic": Path(dynamic)}, images, root


def _torch(model, images: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = model(images)
    return {f: getattr(out, f).float().numpy() for f in FIELDS}


def _onnxruntime(path: Path, images: torch.Tensor) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    return {f: outputs[names.index(f)].astype(np.float32) for f in FIELDS}


def _openvino(model_path: Path, images: torch.Tensor) -> dict[str, np.ndarray]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(model_path), "CPU")
    result = compiled([images.numpy()])
    return {f: result[compiled.output(f)].astype(np.float32) for f in FIELDS}


def _assert_close(reference: dict[str, np.ndarray], other: dict[str, np.ndarray], label: str) -> None:
    for field in FIELDS:
        a, b = reference[field], other[field].reshape(reference[field].shape)
        assert np.isfinite(b).all(), f"{label} {field}: non-finite"
        err = float(np.abs(a - b).max())
        assert err <= TOL, f"{label} {field}: max |Δ| = {err:.2e} > {TOL}"


@pytest.mark.parametrize("batch", [1, 8])
def test_onnx_and_openvino_match_torch_fixed_size(exported, batch: int) -> None:
    _, model, paths, images, _ = exported
    x = images[:batch]
    reference = _torch(model, x)
    assert reference["anomaly_map"].std() > 0  # a real map, not a constant
    _assert_close(reference, _onnxruntime(paths["fixed"], x), f"onnxruntime b{batch}")
    _assert_close(reference, _openvino(paths["fixed"], x), f"openvino b{batch}")


@pytest.mark.parametrize("size", [64, 96, 128])
def test_dynamic_graph_matches_torch_at_other_input_sizes(exported, size: int) -> None:
    # dynamic batch, height and width: the graph's own pre-processor resizes to the model's 64×64
    _, model, paths, images, _ = exported
    x = torch.nn.functional.interpolate(images[:3], size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
    reference = _torch(model, x)
    assert reference["anomaly_map"].shape[-2:] == (64, 64)
    _assert_close(reference, _onnxruntime(paths["dynamic"], x), f"onnxruntime {size}²")
    _assert_close(reference, _openvino(paths["dynamic"], x), f"openvino {size}²")


def test_openvino_ir_and_the_readme_inferencer_snippet(exported, tiny_root: Path) -> None:
    # OpenVINO IR as anomalib's export writes it (ONNX → ov.convert_model → ov.save_model; the CLI path is tested in
    # test_cli), plus the torch export, then the README's inferencer snippet run as written against these files
    import openvino as ov
    from anomalib.deploy import ExportType

    from anomalib_kd_plugins.bench.measure import openvino_timings

    engine, model, paths, images, root = exported
    xml = root / "deploy" / "weights" / "openvino" / "model.xml"
    xml.parent.mkdir(parents=True)
    ov.save_model(ov.convert_model(paths["fixed"]), xml, compress_to_fp16=False)  # as anomalib (FP32 unless asked)
    _assert_close(_torch(model, images), _openvino(xml, images), "OpenVINO IR b8")
    timings = openvino_timings(str(xml), images, repeats=2)  # what `anomalib-kd bench --backends openvino` reports
    assert timings["ov_latency_ms_b1"] > 0 and timings["ov_throughput_ips_b8"] > 0
    engine.export(model, ExportType.TORCH, export_root=root / "deploy")
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"<!-- inferencer-snippet -->\n```python\n(.*?)```", readme, re.S).group(1)
    image = sorted((tiny_root / "brick" / "test" / "scratch").glob("*.png"))[0]
    snippet = snippet.replace("results/weights", str(root / "deploy" / "weights")).replace("new_image.png", str(image))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = {"capture_output": True, "text": True, "env": env, "timeout": 300, "cwd": root}  # OpenVINO caches in CWD
    proc = subprocess.run([sys.executable, "-c", snippet], **run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = [float(v) for v in re.findall(r"score ([0-9.]+)", proc.stdout)]
    assert len(scores) == 2 and abs(scores[0] - scores[1]) <= TOL, proc.stdout  # torch and OpenVINO agree
    assert proc.stdout.count("map (64, 64)") == 2, proc.stdout
