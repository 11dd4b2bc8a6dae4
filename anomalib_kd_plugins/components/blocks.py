"""Network blocks shared by ADPS and DMDD."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias) → BN → ReLU, padded to keep the spatial size."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UpBlock(nn.Module):
    """UNet up-block, ADPS eqs. (3)-(5): 2× transposed conv, concat the skip, two 3×3 conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)  # eq. (3)
        self.body = nn.Sequential(  # eq. (5): ReLU(BN(Conv(ReLU(BN(Conv(P^c))))))
            conv_bn_relu(out_channels + skip_channels, out_channels),
            conv_bn_relu(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """Upsample ``x`` 2×, concatenate ``skip`` (eq. 4) when given, refine."""
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.body(x)


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
    """DMDD decoupling head [F S5: 1×1 convs expand, then split]: F → (F^N, F^A), each with F's width.

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
