"""ADPS map and score (Algorithm 1): M = anomaly-class softmax probability, map = G(M), Sc = max(G(M)).

With ``map_fusion="seg+kd"`` (not the paper's; components/fusion.py) M is the standardised sum of that probability
and the asymmetric KD map, the mean over levels of 1 − cos(T_i, S_i) (1 − W_i; with ``kd_pool`` > 1, of features
averaged over neighbourhoods); the score stays the max of the smoothed map, unless ``score_map="raw"`` takes it from
the map before G (not the paper's: a CPU-recipe option; the PSM's sharp map keeps a small defect's peak that G
spreads, docs/experiments/2026-12-06-round20.md).
"""

from __future__ import annotations

import torch
from torch import nn

from anomalib_kd_plugins.components.fusion import FusedMap, KdPoolBorder, MapFusion, MapFusionScale
from anomalib_kd_plugins.components.options import check_choice
from anomalib_kd_plugins.components.smoothing import SCORE_MAPS, GaussianSmoother, ScoreMap


def max_score(anomaly_map: torch.Tensor) -> torch.Tensor:
    """Image score = max over the map (ADPS Algorithm 1: Sc = max(G(M)))."""
    return anomaly_map.flatten(1).amax(dim=1)


class AnomalyMapGenerator(nn.Module):
    """Turn the PSM's anomaly probability (and the KD map) into a smoothed anomaly map and the max image score.

    Args:
        sigma: σ of G in input pixels; 0 disables smoothing.
        map_fusion: ``"seg"`` (the paper's map) or ``"seg+kd"`` (components/fusion.py).
        kd_pool: the neighbourhood averaged before the KD map's cosine (1: per position; components/fusion.py).
        kd_pool_border: what an edge position of the pooled KD map reads (components/fusion.py).
        map_fusion_scale: how ``"seg+kd"`` scales each map before the sum (components/fusion.py).
        score_map: the map whose max is the image score: ``"smoothed"`` (Algorithm 1, Sc = max(G(M))) or ``"raw"``
            (M before G).

    Example:
        >>> generator = AnomalyMapGenerator(sigma=4.0)
        >>> seg = generator.segmentation_map(torch.randn(1, 2, 64, 64))
        >>> anomaly_map, score = generator(seg)
    """

    def __init__(
        self,
        sigma: float = 4.0,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        score_map: ScoreMap = "smoothed",
    ) -> None:
        super().__init__()
        check_choice("score_map", score_map, SCORE_MAPS)
        self.score_map = score_map
        self.smoother = GaussianSmoother(sigma)
        self.fusion = FusedMap(map_fusion, kd_pool, kd_pool_border, map_fusion_scale)

    @staticmethod
    def segmentation_map(logits: torch.Tensor) -> torch.Tensor:
        """Eq. (6): the softmax probability of the anomalous class (channel 1), (B,1,H,W)."""
        return torch.softmax(logits, dim=1)[:, 1:2]

    def kd_map(self, teacher: list[torch.Tensor], student: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """The asymmetric KD map (Table VIII "W/O PW"): the mean over levels of 1 − cos(T_i, S_i) at the input size
        (``kd_pool``: of neighbourhood-averaged features; components/fusion.py)."""
        return self.fusion.kd_map(teacher, student, size)

    def forward(self, seg: torch.Tensor | None, kd: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (anomaly_map (B,1,H,W), pred_score (B,)); pixel metrics use the smoothed map [A §1.9], the score
        that map's max or, with ``score_map="raw"``, the unsmoothed one's."""
        raw = self.fusion(seg, kd)
        anomaly_map = self.smoother(raw)
        return anomaly_map, max_score(anomaly_map if self.score_map == "smoothed" else raw)
