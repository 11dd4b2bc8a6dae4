"""ADPS map and score (Algorithm 1): M = anomaly-class softmax probability, map = G(M), Sc = max(G(M)).

With ``map_fusion="seg+kd"`` (not the paper's; components/fusion.py) M is the standardised sum of that probability
and the asymmetric KD map, the mean over levels of 1 − cos(T_i, S_i) (1 − W_i; with ``kd_pool`` > 1, of features
averaged over neighbourhoods); the score stays the max of the smoothed map.
"""

from __future__ import annotations

import torch
from torch import nn

from anomalib_kd_plugins.components.fusion import FusedMap, KdPoolBorder, MapFusion, MapFusionScale
from anomalib_kd_plugins.components.smoothing import GaussianSmoother


def max_score(anomaly_map: torch.Tensor) -> torch.Tensor:
    """Image score = max over the map (ADPS Algorithm 1: Sc = max(G(M)))."""
    return anomaly_map.flatten(1).amax(dim=1)


class AnomalyMapGenerator(nn.Module):
    """Turn the PSM's anomaly probability (and the KD map) into a smoothed anomaly map and the max image score.

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
    ) -> None:
        super().__init__()
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
        """Return (anomaly_map (B,1,H,W), pred_score (B,)); pixel metrics use the smoothed map [A §1.9]."""
        anomaly_map = self.smoother(self.fusion(seg, kd))
        return anomaly_map, max_score(anomaly_map)
