"""Attention and context blocks (timm's SE and CBAM spatial attention, torchvision's ASPP) and their fusion head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from timm.layers import SEModule
from timm.layers.cbam import SpatialAttn
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP, ASPPConv, ASPPPooling

from anomalib_kd_plugins.components.blocks import conv_bn_relu
from anomalib_kd_plugins.components.options import check_choice

AsppForm = Literal["torchvision", "destseg"]
ASPP_FORMS = get_args(AsppForm)


class DeSTSegASPP(nn.Module):
    """DeSTSeg's ASPP: global pooling plus three dilated 3×3 branches (no 1×1 branch), fused by a 3×3 conv-BN-ReLU.

    torchvision's DeepLabV3 ASPP adds a 1×1 branch and fuses with a 1×1 conv followed by dropout 0.5; DeSTSeg's
    segmentation head (the skeleton DMDD builds on) has neither. Branches reuse torchvision's ASPPPooling/ASPPConv.
    """

    def __init__(self, channels: int, atrous_rates: Sequence[int] = (6, 12, 18)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [ASPPPooling(channels, channels), *(ASPPConv(channels, channels, rate) for rate in atrous_rates)]
        )
        self.fuse = conv_bn_relu(len(self.branches) * channels, channels, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the branches and fuse them back to ``channels``."""
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class MultiPerceptionHead(nn.Module):
    """DMDD Multi-perception Segmentation Head [F §2.1: "multiple attention"; layout A §2.2].

    Three parallel perceptions of the fused map: channel attention (SE, C→C/16→C), spatial attention
    (CBAM: [mean_c, max_c] → 7×7 conv → sigmoid) and multi-receptive-field context (``aspp``: torchvision's
    DeepLabV3 ASPP, or DeSTSeg's 4-branch form with a 3×3 fusion, :class:`DeSTSegASPP`; rates 6/12/18 as in
    DeSTSeg); concatenated, then 1×1 → 3×3 → 1×1 conv to one anomaly logit per position.
    """

    def __init__(
        self, channels: int = 256, atrous_rates: Sequence[int] = (6, 12, 18), aspp: AsppForm = "torchvision"
    ) -> None:
        super().__init__()
        check_choice("aspp", aspp, ASPP_FORMS)
        self.channel_attention = SEModule(channels, rd_ratio=1 / 16)
        self.spatial_attention = SpatialAttn(kernel_size=7)
        if aspp == "torchvision":
            self.context: nn.Module = ASPP(channels, list(atrous_rates), channels)
        else:
            self.context = DeSTSegASPP(channels, atrous_rates)
        self.fuse = nn.Sequential(
            conv_bn_relu(3 * channels, channels, kernel_size=1),
            conv_bn_relu(channels, channels, kernel_size=3),
            nn.Conv2d(channels, 1, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (B, 1, h, w) anomaly logits."""
        perceptions = [self.channel_attention(x), self.spatial_attention(x), self.context(x)]
        return self.fuse(torch.cat(perceptions, dim=1))
