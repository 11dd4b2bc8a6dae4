"""ADPS losses (eq. 9): L = L_d (eq. 7, Y-conditioned cosine distillation) + λ·L_s (eq. 8, focal)."""

from __future__ import annotations

import torch
from kornia.losses import focal_loss
from torch import nn

from anomalib_kd_plugins.components.losses import MaskDownsample, resize_mask


def softmax_focal_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss on 2-class logits, ADPS eq. (8): −(1−p)^τ log p on y=1, −p^τ log(1−p) on y=0, mean over pixels."""
    target = mask.squeeze(1).long()
    # kornia returns a (B, C, H, W) map that is zero outside the target class: sum classes, average pixels
    return focal_loss(logits, target, alpha=None, gamma=gamma, reduction="none").sum(dim=1).mean()


def distillation_loss(
    cos_maps: list[torch.Tensor], mask: torch.Tensor, mask_downsample: MaskDownsample = "bilinear"
) -> torch.Tensor:
    """Eq. (7): Σ_i mean[(1−Y)·(1−cos(T_i,S_i)) + Y·cos(T_i,S_i)]; mean over positions and batch is [A]."""
    loss = cos_maps[0].new_zeros(())
    for w in cos_maps:
        y = resize_mask(mask, tuple(w.shape[-2:]), mask_downsample)
        loss = loss + ((1 - y) * (1 - w) + y * w).mean()
    return loss


class AdpsLoss(nn.Module):
    """Total ADPS loss, eq. (9): L_d + λ·L_s with λ = 1 in the paper."""

    def __init__(
        self, focal_gamma: float = 2.0, lambda_seg: float = 1.0, mask_downsample: MaskDownsample = "bilinear"
    ) -> None:
        super().__init__()
        self.focal_gamma = focal_gamma
        self.lambda_seg = lambda_seg
        self.mask_downsample = mask_downsample

    def forward(
        self, logits: torch.Tensor | None, cos_maps: list[torch.Tensor], mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the total loss and its parts (for logging).

        The ablations drop a term: no PSM (``psm=False``) has no L_s; one network's features alone
        (``psm_input="teacher_only"`` / ``"student_only"``) have no W_i and so no L_d.
        """
        parts: dict[str, torch.Tensor] = {}
        loss = mask.new_zeros(())
        if cos_maps:
            l_d = distillation_loss(cos_maps, mask, self.mask_downsample)
            loss, parts["loss_distill"] = loss + l_d, l_d.detach()
        if logits is not None:
            l_s = softmax_focal_loss(logits, mask, self.focal_gamma)
            loss, parts["loss_seg"] = loss + self.lambda_seg * l_s, l_s.detach()
        return loss, parts
