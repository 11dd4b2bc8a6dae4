"""ADPS network blocks: the UNet up-block of the Post-Segmentation Module (docs/adps.md §1.5)."""

from __future__ import annotations

import torch
from torch import nn

from anomalib_kd_plugins.components.blocks import conv_bn_relu


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
