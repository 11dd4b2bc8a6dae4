"""Attention and context blocks (timm's SE and CBAM spatial attention, torchvision's ASPP) and their fusion head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import SEModule
from timm.layers.cbam import SpatialAttn
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP

from .blocks import conv_bn_relu


class MultiPerceptionHead(nn.Module):
    """DMDD Multi-perception Segmentation Head [F: "multiple attention"; layout A §2.2].

    Three parallel perceptions of the fused map: channel attention (SE, C→C/16→C), spatial attention
    (CBAM: [mean_c, max_c] → 7×7 conv → sigmoid) and multi-receptive-field context (ASPP, rates 6/12/18 as in
    DeSTSeg); concatenated, then 1×1 → 3×3 → 1×1 conv to one anomaly logit per position.
    """

    def __init__(self, channels: int = 256, atrous_rates: Sequence[int] = (6, 12, 18)) -> None:
        super().__init__()
        self.channel_attention = SEModule(channels, rd_ratio=1 / 16)
        self.spatial_attention = SpatialAttn(kernel_size=7)
        self.context = ASPP(channels, list(atrous_rates), channels)
        self.fuse = nn.Sequential(
            conv_bn_relu(3 * channels, channels, kernel_size=1),
            conv_bn_relu(channels, channels, kernel_size=3),
            nn.Conv2d(channels, 1, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, 1, h, w) anomaly logits."""
        perceptions = [self.channel_attention(x), self.spatial_attention(x), self.context(x)]
        return self.fuse(torch.cat(perceptions, dim=1))
