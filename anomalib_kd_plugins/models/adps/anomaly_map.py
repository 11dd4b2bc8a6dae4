"""ADPS map and score (Algorithm 1): M = anomaly-class softmax probability, map = G(M), Sc = max(G(M))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anomalib_kd_plugins.components.smoothing import GaussianSmoother


def max_score(anomaly_map: torch.Tensor) -> torch.Tensor:
    """Image score = max over the map (ADPS Algorithm 1: Sc = max(G(M)))."""
    return anomaly_map.flatten(1).amax(dim=1)


class AnomalyMapGenerator(nn.Module):
    """Turn the PSM's 2-class logits into a smoothed anomaly map and the max image score."""

    def __init__(self, sigma: float = 4.0) -> None:
        super().__init__()
        self.smoother = GaussianSmoother(sigma)

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (anomaly_map (B,1,H,W), pred_score (B,)); pixel metrics use the smoothed map [A §1.9]."""
        prob = torch.softmax(logits, dim=1)[:, 1:2]  # eq. (6), channel 1 = anomalous
        anomaly_map = self.smoother(prob)
        return anomaly_map, max_score(anomaly_map)

    def distance_map(self, cos_maps: list[torch.Tensor], size: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """``psm=False`` (Table VIII "W/O PW"): mean over levels of 1 − W_i at the input size, smoothed; max score."""
        distance = torch.stack(
            [F.interpolate(1 - w, size=size, mode="bilinear", align_corners=False) for w in cos_maps]
        ).mean(0)
        anomaly_map = self.smoother(distance)
        return anomaly_map, max_score(anomaly_map)
