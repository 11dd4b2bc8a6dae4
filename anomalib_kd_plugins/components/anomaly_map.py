"""Map smoothing and image-score rules shared by both models (traceable: no Python branching on data)."""

from __future__ import annotations

import torch
from anomalib.models.components import GaussianBlur2d
from torch import nn


class GaussianSmoother(nn.Module):
    """Gaussian filter G of ADPS Algorithm 1 (anomalib's GaussianBlur2d, kernel 2·⌊4σ+0.5⌋+1 as in RD4AD)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        if sigma > 0:
            kernel = 2 * int(4.0 * sigma + 0.5) + 1
            self.blur: nn.Module = GaussianBlur2d(kernel_size=(kernel, kernel), sigma=(sigma, sigma), channels=1)
        else:
            self.blur = nn.Identity()

    def forward(self, anomaly_map: torch.Tensor) -> torch.Tensor:
        """Smooth a (B,1,H,W) map."""
        return self.blur(anomaly_map)


def max_score(anomaly_map: torch.Tensor) -> torch.Tensor:
    """Image score = max over the map (ADPS Algorithm 1: Sc = max(G(M)))."""
    return anomaly_map.flatten(1).amax(dim=1)


def top_k_mean_score(anomaly_map: torch.Tensor, k: int) -> torch.Tensor:
    """Image score = mean of the k largest pixels (DeSTSeg T=100, DMDD [A])."""
    flat = anomaly_map.flatten(1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)
