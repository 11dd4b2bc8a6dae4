"""Gaussian smoothing of anomaly maps, shared by both models (ADPS Algorithm 1's G; DMDD's optional ``sigma``).

``ScoreMap`` says which map the image score is read from: ``"smoothed"`` (ADPS Algorithm 1, Sc = max(G(M)), and
PatchCore) or ``"raw"`` (DeSTSeg and DMDD: the map before G). The pixel metrics use the smoothed map either way.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from kornia.filters import filter2d_separable, get_gaussian_kernel1d
from torch import nn

ScoreMap = Literal["raw", "smoothed"]
SCORE_MAPS: tuple[str, ...] = get_args(ScoreMap)


class GaussianSmoother(nn.Module):
    """Gaussian filter: kernel 2·⌊4σ+0.5⌋+1 as in RD4AD, reflect padding, run separably; σ ≤ 0 is the identity.

    The same filter as anomalib's ``GaussianBlur2d`` (max |Δ| ~2e-6 on probability maps), applied as two 1-D passes
    by kornia's ``filter2d_separable``: 2·33 instead of 33² multiply-adds per pixel at σ = 4
    (``benchmarks/inference_profile.py``). The 1-D kernel is derived from σ, so it is not saved in checkpoints.

    Args:
        sigma: the standard deviation in pixels of the map it smooths; 0 disables smoothing.
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
