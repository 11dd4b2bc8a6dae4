"""Synthetic anomalies for training_step only (ARCHITECTURE decision 5), through anomalib's PerlinAnomalyGenerator."""

from __future__ import annotations

from pathlib import Path

import torch
from anomalib.data.utils.generators import PerlinAnomalyGenerator
from torch import nn
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2


def check_anomaly_source(path: str | None) -> None:
    """Reject a texture folder that is missing or holds no images, naming the fix; ``None`` means Perlin textures."""
    if path is None:
        return
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"anomaly_source_path {str(folder)!r} does not exist. Point it at a folder of texture images "
            "(e.g. DTD's `dtd/images`), or leave it unset (None) to synthesise Perlin-noise textures. "
            "Nothing is ever downloaded."
        )
    if not any(p.suffix.lower() in IMG_EXTENSIONS for p in folder.rglob("*") if p.is_file()):
        raise FileNotFoundError(
            f"anomaly_source_path {str(folder)!r} holds no images ({', '.join(IMG_EXTENSIONS)}). Add texture "
            "images to it, or leave it unset (None) to synthesise Perlin-noise textures."
        )


def find_normalize(transform: nn.Module | None) -> v2.Normalize | None:
    """Return the first ``Normalize`` inside a (possibly nested) torchvision v2 transform, if any."""
    if transform is None:
        return None
    if isinstance(transform, v2.Normalize):
        return transform
    for child in getattr(transform, "transforms", []):
        found = find_normalize(child)
        if found is not None:
            return found
    return None


class AnomalySynthesizer(nn.Module):
    """DRAEM-style Perlin (+ optional texture folder) anomalies on normalised batches (ADPS §III-D, DMDD pairs).

    anomalib's generator blends in [0, 1] pixel space; batches arrive ImageNet-normalised from the pre-processor,
    so they are un-normalised, corrupted, then normalised again.
    """

    def __init__(self, anomaly_source_path: str | None = None, probability: float = 0.5) -> None:
        super().__init__()
        check_anomaly_source(anomaly_source_path)
        self.generator = PerlinAnomalyGenerator(anomaly_source_path=anomaly_source_path, probability=probability)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)

    def set_normalization(self, normalize: v2.Normalize | None) -> None:
        """Use the pre-processor's mean/std (identity when the pipeline has no Normalize)."""
        if normalize is not None:
            self.mean.copy_(torch.tensor(normalize.mean).view(1, -1, 1, 1))
            self.std.copy_(torch.tensor(normalize.std).view(1, -1, 1, 1))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (corrupted normalised images, masks (B,1,H,W) in {0,1})."""
        pixels = (images * self.std + self.mean).clamp(0, 1)
        augmented, mask = self.generator(pixels)
        return (augmented - self.mean) / self.std, mask.float()
