"""What both models' losses share: bringing the synthetic mask to feature resolution."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

from .options import check_choice

MaskDownsample = Literal["bilinear", "max"]
MASK_DOWNSAMPLE_MODES = get_args(MaskDownsample)


def resize_mask(mask: torch.Tensor, size: tuple[int, int], mode: MaskDownsample = "bilinear") -> torch.Tensor:
    """Bring a (B,1,H,W) {0,1} mask to a feature grid: bilinear then >0.5 (DeSTSeg) or max-pool (any pixel) [A]."""
    if mode == "bilinear":
        return (F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False) > 0.5).float()
    if mode == "max":
        return F.adaptive_max_pool2d(mask.float(), size)
    check_choice("mask_downsample", mode, MASK_DOWNSAMPLE_MODES)
    raise AssertionError("unreachable")
