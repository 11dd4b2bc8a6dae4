"""DMDD map and score [A §2.2]: the segmentation output "obtained directly", upsampled; score = mean of the top k.

``sigma`` > 0 smooths the upsampled map with the Gaussian that ADPS and PatchCore apply (an option, not DeSTSeg's);
the image score stays DeSTSeg's, the top-k mean of the unsmoothed map, unless ``score_map="smoothed"`` takes it from
the smoothed map, as ADPS and PatchCore score theirs (not DeSTSeg's: a CPU-recipe option). ``map_fusion="seg+kd"``
(not the paper's; components/fusion.py) adds the normality branch's KD map, the mean over levels of
1 − cos(T_l, F^N_l) (with ``kd_pool`` > 1, of neighbourhood-averaged features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anomalib_kd_plugins.components.fusion import FusedMap, KdPoolBorder, MapFusion, MapFusionScale
from anomalib_kd_plugins.components.options import check_choice
from anomalib_kd_plugins.components.smoothing import SCORE_MAPS, GaussianSmoother, ScoreMap


class AnomalyMapGenerator(nn.Module):
    """Sigmoid of the segmentation logits, bilinearly upsampled to the input size (fused with the KD map when asked,
    then smoothed when σ > 0); image score = top-k mean of the unsmoothed map (DeSTSeg's score, whatever σ), or of
    the smoothed one (``score_map="smoothed"``).

    Args:
        top_k: pixels averaged into the image score (DeSTSeg: 100).
        sigma: Gaussian σ in input pixels applied to the upsampled map; 0 (DeSTSeg's convention) leaves it raw.
        map_fusion: ``"seg"`` (the paper's map) or ``"seg+kd"`` (components/fusion.py).
        kd_pool: the neighbourhood averaged before the KD map's cosine (1: per position; components/fusion.py).
        kd_pool_border: what an edge position of the pooled KD map reads (components/fusion.py).
        map_fusion_scale: how ``"seg+kd"`` scales each map before the sum (components/fusion.py).
        score_map: the map whose top-k mean is the image score: ``"raw"`` (DeSTSeg: unsmoothed) or ``"smoothed"``.

    Example:
        >>> anomaly_map, score = AnomalyMapGenerator(top_k=100)(torch.randn(1, 1, 16, 16), (64, 64))
    """

    def __init__(
        self,
        top_k: int = 100,
        sigma: float = 0.0,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        score_map: ScoreMap = "raw",
    ) -> None:
        super().__init__()
        check_choice("score_map", score_map, SCORE_MAPS)
        self.top_k = top_k
        self.score_map = score_map
        self.smoother = GaussianSmoother(sigma)
        self.fusion = FusedMap(map_fusion, kd_pool, kd_pool_border, map_fusion_scale)

    @staticmethod
    def segmentation_map(logits: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """DeSTSeg order: sigmoid at the head's resolution, then bilinear upsampling to ``image_size``."""
        return F.interpolate(torch.sigmoid(logits), size=image_size, mode="bilinear", align_corners=False)

    def kd_map(
        self, teacher: list[torch.Tensor], branch: list[torch.Tensor], image_size: tuple[int, int]
    ) -> torch.Tensor:
        """A branch's KD map (the normality branch's in the fused map): the mean over levels of 1 − cos(T_l, F_l) at
        the input size (``kd_pool``: of neighbourhood-averaged features; components/fusion.py)."""
        return self.fusion.kd_map(teacher, branch, image_size)

    def forward(
        self, logits: torch.Tensor, image_size: tuple[int, int], kd: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (anomaly_map (B,1,H,W), pred_score (B,)); the map is smoothed only when σ > 0 (DeSTSeg: never)."""
        raw = self.fusion(self.segmentation_map(logits, image_size), kd)
        smoothed = self.smoother(raw)
        return smoothed, top_k_mean_score(smoothed if self.score_map == "smoothed" else raw, self.top_k)


def top_k_mean_score(anomaly_map: torch.Tensor, k: int) -> torch.Tensor:
    """Image score = mean of the k largest pixels (DeSTSeg T=100, DMDD [A])."""
    flat = anomaly_map.flatten(1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)
