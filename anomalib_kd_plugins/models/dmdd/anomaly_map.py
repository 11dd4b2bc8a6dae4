"""DMDD map and score [A §2.2]: the segmentation output "obtained directly", upsampled; score = mean of the top k.

``sigma`` > 0 smooths the upsampled map with the Gaussian that ADPS and PatchCore apply (an option, not DeSTSeg's);
the image score stays DeSTSeg's, the top-k mean of the unsmoothed map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anomalib_kd_plugins.components.smoothing import GaussianSmoother


class AnomalyMapGenerator(nn.Module):
    """Sigmoid of the segmentation logits, bilinearly upsampled to the input size (then smoothed when σ > 0);
    image score = top-k mean of the unsmoothed map (DeSTSeg's score, whatever σ).

    Args:
        top_k: pixels averaged into the image score (DeSTSeg: 100).
        sigma: Gaussian σ in input pixels applied to the upsampled map; 0 (DeSTSeg's convention) leaves it raw.
    """

    def __init__(self, top_k: int = 100, sigma: float = 0.0) -> None:
        super().__init__()
        self.top_k = top_k
        self.smoother = GaussianSmoother(sigma)

    def forward(self, logits: torch.Tensor, image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (anomaly_map (B,1,H,W), pred_score (B,)); the map is smoothed only when σ > 0 (DeSTSeg: never)."""
        # DeSTSeg order: sigmoid at the head's resolution, then bilinear upsampling
        anomaly_map = F.interpolate(torch.sigmoid(logits), size=image_size, mode="bilinear", align_corners=False)
        return self.smoother(anomaly_map), top_k_mean_score(anomaly_map, self.top_k)


def top_k_mean_score(anomaly_map: torch.Tensor, k: int) -> torch.Tensor:
    """Image score = mean of the k largest pixels (DeSTSeg T=100, DMDD [A])."""
    flat = anomaly_map.flatten(1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)
