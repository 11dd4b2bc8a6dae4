"""Losses shared by ADPS and DMDD: focal (kornia), mask resizing to feature resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.losses import binary_focal_loss_with_logits, focal_loss

MASK_DOWNSAMPLE_MODES = ("bilinear", "max")


def resize_mask(mask: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Bring a (B,1,H,W) {0,1} mask to a feature grid: bilinear then >0.5 (DeSTSeg) or max-pool (any pixel) [A]."""
    if mode == "bilinear":
        return (F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False) > 0.5).float()
    if mode == "max":
        return F.adaptive_max_pool2d(mask.float(), size)
    raise ValueError(f"mask_downsample must be one of {MASK_DOWNSAMPLE_MODES}, got {mode!r}")


def softmax_focal_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss on 2-class logits, ADPS eq. (8): −(1−p)^τ log p on y=1, −p^τ log(1−p) on y=0, mean over pixels."""
    target = mask.squeeze(1).long()
    # kornia returns a (B, C, H, W) map that is zero outside the target class: sum classes, average pixels
    return focal_loss(logits, target, alpha=None, gamma=gamma, reduction="none").sum(dim=1).mean()


def sigmoid_focal_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Binary focal loss without α weighting on 1-channel logits (DeSTSeg / DMDD seg loss), mean over pixels."""
    return binary_focal_loss_with_logits(logits, mask.float(), alpha=None, gamma=gamma, reduction="mean")
