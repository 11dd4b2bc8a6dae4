"""ADPS map and score (Algorithm 1): M = anomaly-class softmax probability, map = G(M), Sc = max(G(M))."""

from __future__ import annotations

import torch
from torch import nn

from anomalib_kd_plugins.components.anomaly_map import GaussianSmoother, max_score


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
