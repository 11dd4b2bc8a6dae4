"""DMDD losses (Liu et al., ACM MM 2024; reconstruction in docs/dmdd.md §2.2, every form [A] unless tagged [F]).

* NGM [F: cosine distance, target = teacher features of the normal image]:
  L_NGM = Σ_l mean_x [1 − cos(T_l(I_n), F^N_l(I_a))], optionally restricted to normal pixels (1 − M_l).
* AIM-1 (default): L_AIM = Σ_l mean_x |(1 − cos(T_l(I*), F^A_l(I_a))) − M_l|, I* = I_a (default) or I_n.
* AIM-2: L_AIM = Σ_l Σ_x M_l·max(0, cos(T_l(I*), F^A_l(I_a)) − m) / (Σ_x M_l + ε).
* L_KD = λ_NGM·L_NGM + λ_AIM·L_AIM (λ_NGM = λ_AIM = 1; 0 removes a term, for the ablation).
* Segmentation: focal (γ = 4, no α) + L1 on the synthetic mask (DeSTSeg).
* ``kd_reduction`` [A]: ``"mean"`` averages L_KD over the batch; ``"batch_sum"`` sums the per-image means over the
  batch, as DeSTSeg's public training code does for its denoising KD loss (Σ over batch and positions, divided by
  h·w only), so the student's gradient does not shrink by the batch size.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from kornia.losses import binary_focal_loss_with_logits
from torch import nn

from anomalib_kd_plugins.components.losses import MaskDownsample, resize_mask
from anomalib_kd_plugins.components.options import check_choice

AimForm = Literal["l1", "margin"]
AIM_FORMS = get_args(AimForm)
AimTarget = Literal["anomalous", "normal"]
AIM_TARGETS = get_args(AimTarget)
KdReduction = Literal["mean", "batch_sum"]
KD_REDUCTIONS = get_args(KdReduction)
EPS = 1e-6


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-position 1 − cos along channels, (B,C,h,w) × 2 → (B,1,h,w)."""
    return 1 - F.cosine_similarity(a, b, dim=1).unsqueeze(1)


def ngm_loss(
    teacher_normal: list[torch.Tensor],
    normality: list[torch.Tensor],
    mask: torch.Tensor | None = None,
    mask_downsample: MaskDownsample = "bilinear",
) -> torch.Tensor:
    """Normality Guidance Modeling; with ``mask`` only normal positions count (mean over them)."""
    loss = normality[0].new_zeros(())
    for t, f in zip(teacher_normal, normality, strict=True):
        d = cosine_distance(t, f)
        if mask is None:
            loss = loss + d.mean()
        else:
            keep = 1 - resize_mask(mask, tuple(d.shape[-2:]), mask_downsample)
            loss = loss + (d * keep).sum() / (keep.sum() + EPS)
    return loss


def aim_loss_l1(
    teacher: list[torch.Tensor],
    abnormality: list[torch.Tensor],
    mask: torch.Tensor,
    mask_downsample: MaskDownsample = "bilinear",
) -> torch.Tensor:
    """AIM-1: regress the cosine-distance map onto the mask (mimic normal, inverse-mimic anomalous positions)."""
    loss = abnormality[0].new_zeros(())
    for t, f in zip(teacher, abnormality, strict=True):
        d = cosine_distance(t, f)
        loss = loss + (d - resize_mask(mask, tuple(d.shape[-2:]), mask_downsample)).abs().mean()
    return loss


def aim_loss_margin(
    teacher: list[torch.Tensor],
    abnormality: list[torch.Tensor],
    mask: torch.Tensor,
    margin: float = 0.0,
    mask_downsample: MaskDownsample = "bilinear",
) -> torch.Tensor:
    """AIM-2: inside anomalous regions only, push cos(T, F^A) below ``margin``."""
    loss = abnormality[0].new_zeros(())
    for t, f in zip(teacher, abnormality, strict=True):
        cos = F.cosine_similarity(t, f, dim=1).unsqueeze(1)
        m = resize_mask(mask, tuple(cos.shape[-2:]), mask_downsample)
        loss = loss + (m * (cos - margin).clamp(min=0)).sum() / (m.sum() + EPS)
    return loss


def sigmoid_focal_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Binary focal loss without α weighting on 1-channel logits (DeSTSeg / DMDD seg loss), mean over pixels."""
    return binary_focal_loss_with_logits(logits, mask.float(), alpha=None, gamma=gamma, reduction="mean")


def segmentation_loss(logits: torch.Tensor, mask: torch.Tensor, gamma: float = 4.0) -> torch.Tensor:
    """DeSTSeg seg loss: focal (γ, no α) + L1 between sigmoid(logits) and the mask at the logits' resolution."""
    target = resize_mask(mask, tuple(logits.shape[-2:]), "bilinear")
    return sigmoid_focal_loss(logits, target, gamma) + (torch.sigmoid(logits) - target).abs().mean()


class DmddLoss(nn.Module):
    """L_KD = λ_NGM·L_NGM + λ_AIM·L_AIM for the student phase, focal + L1 for the segmentation phase."""

    def __init__(
        self,
        aim: AimForm = "l1",
        aim_margin: float = 0.0,
        lambda_aim: float = 1.0,
        ngm_mask: bool = False,
        focal_gamma: float = 4.0,
        mask_downsample: MaskDownsample = "bilinear",
        kd_reduction: KdReduction = "mean",
        lambda_ngm: float = 1.0,
    ) -> None:
        super().__init__()
        check_choice("aim", aim, AIM_FORMS)
        check_choice("kd_reduction", kd_reduction, KD_REDUCTIONS)
        self.kd_reduction = kd_reduction
        self.aim, self.aim_margin, self.lambda_aim, self.lambda_ngm = aim, aim_margin, lambda_aim, lambda_ngm
        self.ngm_mask, self.focal_gamma, self.mask_downsample = ngm_mask, focal_gamma, mask_downsample

    def distillation(
        self,
        teacher_normal: list[torch.Tensor],
        teacher_target: list[torch.Tensor],
        normality: list[torch.Tensor],
        abnormality: list[torch.Tensor],
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return L_KD and its parts."""
        ngm = ngm_loss(teacher_normal, normality, mask if self.ngm_mask else None, self.mask_downsample)
        if self.aim == "l1":
            aim = aim_loss_l1(teacher_target, abnormality, mask, self.mask_downsample)
        else:
            aim = aim_loss_margin(teacher_target, abnormality, mask, self.aim_margin, self.mask_downsample)
        scale = len(mask) if self.kd_reduction == "batch_sum" else 1  # every loss above is a mean over the batch
        ngm, aim = ngm * scale, aim * scale
        return self.lambda_ngm * ngm + self.lambda_aim * aim, {"loss_ngm": ngm.detach(), "loss_aim": aim.detach()}

    def segmentation(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Focal + L1 on the synthetic masks."""
        return segmentation_loss(logits, mask, self.focal_gamma)
