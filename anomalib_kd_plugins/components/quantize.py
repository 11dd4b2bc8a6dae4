"""INT8 post-training quantization of an exported OpenVINO model (NNCF), the one place both the models' ``anomalib
export --compression_type INT8_PTQ`` and the bench quantize.

Two changes from anomalib's own ``_post_training_quantization_ov``, each measured in docs/export.md ("INT8"):
the 1-D Gaussian passes of the map smoothing stay in float (an ignored scope; quantized, they zeroed the Adps maps),
and NNCF runs its full bias correction (1 − cos(T, S) is a small difference of two quantized feature maps, so each
conv's quantization bias matters more than in a classifier; it slows the export, not the model).
"""

from __future__ import annotations

from typing import Any


def smoothing_convolutions(model: Any) -> list[str]:
    """Names of an OpenVINO model's single-channel convolutions with 1×K or K×1 kernels: the separable map smoothing.

    Identified by shape, not by name: the exporter's node names are generated.
    """
    names = []
    for op in model.get_ops():
        if op.get_type_name() != "Convolution":
            continue
        shape = op.input(1).get_partial_shape()
        if shape.is_static and len(shape) == 4 and shape[0] == shape[1] == 1 and 1 in (shape[2], shape[3]):
            names.append(op.get_friendly_name())
    return names


def quantize_int8(model: Any, datamodule: Any) -> Any:
    """NNCF INT8 of an OpenVINO model, calibrated on the datamodule's validation images (anomalib's choice)."""
    import nncf

    if datamodule is None:
        raise ValueError(
            "INT8 post-training quantization calibrates on images: pass a datamodule (`anomalib export ... "
            "--compression_type INT8_PTQ --data MVTecAD --data.root ... --data.category ...`)."
        )
    datamodule.setup("fit")
    if model.input(0).partial_shape[0].is_static:
        datamodule.train_batch_size = model.input(0).shape[0]
    ignored = smoothing_convolutions(model)
    return nncf.quantize(
        model,
        nncf.Dataset(datamodule.val_dataloader(), lambda batch: batch["image"]),
        ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
        fast_bias_correction=False,
    )
