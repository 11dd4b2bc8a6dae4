"""Network blocks shared by ADPS and DMDD (the ADPS up-block and the DMDD attention head both build on it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anomalib_kd_plugins.components.inputs import tracing


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) → BN → ReLU; in eval mode the BN is folded into the convolution's weights.

    Folding computes the same function (maps within float rounding) in one pass over the activations instead of two,
    which matters at the full resolution of the Adps PSM's last up-block (docs/performance.md). Train mode runs the
    three modules as they are, so training and seeded fits are unchanged; the children keep nn.Sequential's names
    (0, 1, 2), so checkpoints load either way. Exports (ONNX, OpenVINO, torch.export) trace the three modules too,
    so the exported graphs stay the ones the FP32 and INT8 figures were measured on; OpenVINO folds the BN itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn, relu = self
        if self.training or not bn.track_running_stats or tracing():
            return relu(bn(conv(x)))
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        return relu(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups))


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> ConvBNReLU:
    """Conv (no bias) → BN → ReLU, padded to keep the spatial size."""
    padding = dilation * (kernel_size - 1) // 2
    return ConvBNReLU(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
