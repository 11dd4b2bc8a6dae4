"""Named model presets: the papers' settings and fast CPU presets (mirrored by ``configs/*.yaml``, checked by tests).

CPU presets trade fidelity for minutes on a 2-core machine and say so in their names: the ImageNet
tf_efficientnet_lite0 teacher (the one whose weights ship offline), 128×128 images with k = 4 (the paper's 32-px
student patches at half the resolution), σ scaled with the image (2 at 128 px vs 4 at 256 px), and a 10× larger
learning rate for a short schedule.
"""

from __future__ import annotations

from typing import Any

LITE0_LAYERS = ["blocks.1", "blocks.2", "blocks.4"]  # strides 4/8/16, like WRN50 layer1-3

PRESETS: dict[str, dict[str, Any]] = {
    # ADPS §IV-A2: WRN50-2, 256², k = 8, Adam 1e-4, batch 32, 300 epochs, ×0.2 at 240/270, λ = 1
    "adps": {
        "model": "Adps",
        "init_args": {"backbone": "wide_resnet50_2", "layers": ["layer1", "layer2", "layer3"], "k": 8, "lr": 1e-4},
        "image_size": 256,
        "max_epochs": 300,
        "train_batch_size": 32,
    },
    "adps_cpu": {
        "model": "Adps",
        "init_args": {"backbone": "tf_efficientnet_lite0", "layers": LITE0_LAYERS, "k": 4, "lr": 1e-3, "sigma": 2.0},
        "image_size": 128,
        "max_epochs": 10,
        "train_batch_size": 4,
    },
}


def model_kwargs(name: str) -> dict[str, Any]:
    """Constructor arguments of a preset, with its pre-processor at the preset's image size."""
    from anomalib_kd_plugins import Adps

    preset = PRESETS[name]
    size = preset["image_size"]
    return {**preset["init_args"], "pre_processor": Adps.configure_pre_processor(image_size=(size, size))}
