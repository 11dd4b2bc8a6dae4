"""Map smoothing and image-score rules shared by both models (traceable: no Python branching on data)."""

from __future__ import annotations

import torch
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


def top_k_mean_score(anomaly_map: torch.Tensor, k: int) -> torch.Tensor:
    """Image score = mean of the k largest pixels (DeSTSeg T=100, DMDD [A])."""
    flat = anomaly_map.flatten(1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)
