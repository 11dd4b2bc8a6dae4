"""ADPS map and score (Algorithm 1): M = anomaly-class softmax probability, map = G(M), Sc = max(G(M))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import filter2d_separable, get_gaussian_kernel1d
from torch import nn


class GaussianSmoother(nn.Module):
    """Gaussian filter G of ADPS Algorithm 1: kernel 2·⌊4σ+0.5⌋+1 as in RD4AD, reflect padding, run separably.

    The same filter as anomalib's ``GaussianBlur2d`` (max |Δ| ~2e-6 on probability maps), applied as two 1-D passes
    by kornia's ``filter2d_separable``: 2·33 instead of 33² multiply-adds per pixel at σ = 4
    (``benchmarks/inference_profile.py``). The 1-D kernel is derived from σ, so it is not saved in checkpoints.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.kernel: torch.Tensor
        if sigma > 0:
            kernel = get_gaussian_kernel1d(2 * int(4.0 * sigma + 0.5) + 1, sigma).reshape(1, -1)
        else:
            kernel = torch.ones(1, 1)
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, anomaly_map: torch.Tensor) -> torch.Tensor:
        """Smooth a (B,1,H,W) map."""
        if self.sigma <= 0:
            return anomaly_map
        return filter2d_separable(anomaly_map, self.kernel, self.kernel, border_type="reflect")


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
