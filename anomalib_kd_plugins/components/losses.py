"""What both models' losses share: bringing the synthetic mask to feature resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_DOWNSAMPLE_MODES = ("bilinear", "max")


def resize_mask(mask: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Bring a (B,1,H,W) {0,1} mask to a feature grid: bilinear then >0.5 (DeSTSeg) or max-pool (any pixel) [A]."""
    if mode == "bilinear":
        return (F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False) > 0.5).float()
    if mode == "max":
        return F.adaptive_max_pool2d(mask.float(), size)
    raise ValueError(f"mask_downsample must be one of {MASK_DOWNSAMPLE_MODES}, got {mode!r}")
