"""Run exported graphs (ONNX Runtime, OpenVINO) next to torch eager, with OpenVINO's inference precision stated.

Why this module exists: on CPUs with ``avx512_bf16`` or AMX, OpenVINO's CPU plugin infers in **bfloat16** unless it
is told otherwise (``INFERENCE_PRECISION_HINT``), and in float32 elsewhere. bfloat16 keeps 8 mantissa bits, so its
scores differ from torch's by up to about 0.1 while its maps rank pixels almost exactly as torch's do. A parity check
or a latency figure that does not say which precision it ran is therefore a property of the machine, not of the
model. Every OpenVINO compile in this package, its tests and its benchmarks goes through :func:`compile_openvino`
with an explicit ``precision``, and reports the precision the plugin actually chose (:func:`inference_precision`).

To get float32 from anomalib's inferencer::

    OpenVINOInferencer(path, device="CPU", config=openvino_config("f32"))  # {"INFERENCE_PRECISION_HINT": "f32"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

FIELDS = ("pred_score", "anomaly_map")
# "default" leaves the choice to the plugin: bf16 where the CPU supports it, f32 elsewhere (f16 on ARM)
OpenvinoPrecision = Literal["f32", "bf16", "default"]
OPENVINO_PRECISIONS = get_args(OpenvinoPrecision)


def openvino_config(precision: OpenvinoPrecision = "f32") -> dict[str, str]:
    """The ``compile_model`` config for an inference precision: ``f32``, ``bf16`` or ``default`` (the plugin's own).

    A ``bf16`` request on a CPU without bfloat16 support runs in f32 (the plugin ignores what it cannot do), so the
    same config is valid on every machine; :func:`inference_precision` tells what was used.
    """
    if precision == "default":
        return {}
    if precision in OPENVINO_PRECISIONS:
        return {"INFERENCE_PRECISION_HINT": precision}
    msg = f"Unknown OpenVINO precision {precision!r}: use one of {', '.join(OPENVINO_PRECISIONS)}"
    raise ValueError(msg)


def compile_openvino(model: str | Path | Any, precision: OpenvinoPrecision = "f32", device: str = "CPU") -> Any:
    """Compile an OpenVINO IR/ONNX file (or ``ov.Model``) at a stated inference precision (see module docstring)."""
    import openvino as ov

    source = str(model) if isinstance(model, (str, Path)) else model
    return ov.Core().compile_model(source, device, openvino_config(precision))


def inference_precision(compiled: Any) -> str:
    """The precision a compiled OpenVINO model really runs in (``f32``, ``bf16``, ``f16``)."""
    return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()


def torch_outputs(model: Any, images: Any) -> dict[str, Any]:
    """``pred_score`` and ``anomaly_map`` of an anomalib module's full eval forward, as float32 numpy arrays."""
    import torch

    model.eval()
    with torch.inference_mode():
        out = model(images)
    return {f: getattr(out, f).float().numpy() for f in FIELDS}


def onnxruntime_session(path: str | Path) -> Any:
    """An ONNX Runtime CPU session for an exported ``.onnx`` file."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnxruntime_outputs(session: Any, images: Any) -> dict[str, Any]:
    """``pred_score`` and ``anomaly_map`` from an ONNX Runtime session (float32 numpy)."""
    import numpy as np

    names = [o.name for o in session.get_outputs()]
    out = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    return {f: out[names.index(f)].astype(np.float32) for f in FIELDS}


def openvino_outputs(compiled: Any, images: Any) -> dict[str, Any]:
    """``pred_score`` and ``anomaly_map`` from a compiled OpenVINO model (float32 numpy)."""
    import numpy as np

    out = compiled([images.numpy()])
    return {f: out[compiled.output(f)].astype(np.float32) for f in FIELDS}


def max_abs_errors(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """Max |Δ| per output field (the other side reshaped to the reference's shape)."""
    import numpy as np

    return {f: float(np.abs(reference[f] - other[f].reshape(reference[f].shape)).max()) for f in FIELDS}


def map_agreement(reference: Any, other: Any, masks: Any | None = None) -> dict[str, float]:
    """How alike two sets of anomaly maps rank pixels: Spearman ρ over all pixels, and pixel AUROC of each vs masks.

    This is the check for a reduced-precision backend (bf16), whose values drift but whose ranking must not:
    a detector is judged by how it orders pixels, which is what AUROC, AP and PRO measure.
    """
    import numpy as np
    import torch
    from scipy.stats import spearmanr
    from torchmetrics.functional.classification import binary_auroc

    a = np.asarray(reference, dtype=np.float64).reshape(-1)
    b = np.asarray(other, dtype=np.float64).reshape(-1)
    result = {"spearman": float(spearmanr(a, b).statistic)}
    if masks is not None:
        target = torch.as_tensor(np.asarray(masks).reshape(-1) > 0.5).long()
        result["pixel_auroc_reference"] = float(binary_auroc(torch.from_numpy(a), target))
        result["pixel_auroc_other"] = float(binary_auroc(torch.from_numpy(b), target))
    return result


def export_openvino(
    engine: Any, model: Any, export_root: str | Path, input_size: tuple[int, int], datamodule: Any = None
) -> Path:
    """Export through anomalib's ``Engine.export`` to OpenVINO IR: FP32, or INT8 when ``datamodule`` is given.

    INT8 is anomalib's ``CompressionType.INT8_PTQ``: NNCF post-training quantization, calibrated on the datamodule's
    validation images (what ``anomalib export --compression_type INT8_PTQ --data ...`` does). Fixed H×W, dynamic
    batch; opset 18 is what torch's exporter emits anyway.
    """
    from anomalib.deploy import CompressionType, ExportType

    compression = {"compression_type": CompressionType.INT8_PTQ, "datamodule": datamodule} if datamodule else {}
    return Path(
        engine.export(
            model,
            ExportType.OPENVINO,
            export_root=export_root,
            input_size=input_size,
            onnx_kwargs={"opset_version": 18},
            **compression,
        )
    )
