"""DMDD network blocks: DeSTSeg's residual layers and the decoupling head (docs/dmdd.md §2.2-2.3)."""

from __future__ import annotations

import torch
from torch import nn


def make_res_layer(in_channels: int, out_channels: int, blocks: int = 2) -> nn.Sequential:
    """``blocks`` torchvision BasicBlocks from ``in_channels`` to ``out_channels`` (DeSTSeg's ``make_layer``)."""
    from torchvision.models.resnet import BasicBlock

    downsample = None
    if in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), nn.BatchNorm2d(out_channels)
        )
    layers = [BasicBlock(in_channels, out_channels, downsample=downsample)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class DecoupleHead(nn.Module):
    """DMDD decoupling head [F §2.1: 1×1 convs expand, then split]: F → (F^N, F^A), each with F's width.

    [A §2.2] Conv1×1(C→e·C) → BN → ReLU → Conv1×1(e·C→2C), split along channels.
    """

    def __init__(self, channels: int, expansion: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, expansion * channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(expansion * channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(expansion * channels, 2 * channels, kernel_size=1),
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (normality, abnormality) features."""
        normality, abnormality = self.net(features).chunk(2, dim=1)
        return normality, abnormality
