"""The KD signal in the map (both models): the segmentation map alone, or plus the distillation map.

``map_fusion="seg"`` is the papers' map: the segmentation head's output alone (ADPS Algorithm 1, DMDD §3.4).
``"seg+kd"`` adds the models' own distillation map, the mean over levels of 1 − cos(T_l, S_l) (ADPS: T against the
patch student, eq. 1; DMDD: T against the normality branch F^N), after standardising each map with its mean and std
over the pixels of clean training images:

    M = (M_seg − μ_seg) / σ_seg + (M_kd − μ_kd) / σ_kd

The head learns what the synthetic anomalies look like; the KD map reacts to whatever the student cannot reproduce,
real defects included (docs/experiments/2026-12-01-round5.md). The statistics are measured after the fit
(``SyntheticAnomalyKDMixin.calibrate_map_fusion``, at every validation during fitting), kept in a buffer, so they
travel in the checkpoint and into ONNX/OpenVINO exports as constants. The image score is each model's own score
(ADPS: max, DMDD: top-k mean) taken over the fused map.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from .options import check_choice

MapFusion = Literal["seg", "seg+kd"]
MAP_FUSIONS: tuple[str, ...] = get_args(MapFusion)


class FusedMap(nn.Module):
    """Combine the segmentation map and the KD map as ``map_fusion`` says (module docstring).

    Example:
        >>> fuse = FusedMap("seg+kd")
        >>> fuse.calibrate(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
        >>> fuse(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)).shape
        torch.Size([1, 1, 8, 8])
    """

    def __init__(self, map_fusion: MapFusion = "seg") -> None:
        super().__init__()
        check_choice("map_fusion", map_fusion, MAP_FUSIONS)
        self.map_fusion = map_fusion
        # (μ_seg, σ_seg, μ_kd, σ_kd) over clean training pixels; identity until calibrated
        self.register_buffer("stats", torch.tensor([0.0, 1.0, 0.0, 1.0]))

    @property
    def uses_kd(self) -> bool:
        """Whether the map needs the KD map (eval forwards skip computing it otherwise)."""
        return self.map_fusion == "seg+kd"

    @torch.no_grad()
    def calibrate(self, seg: torch.Tensor, kd: torch.Tensor) -> None:
        """Set the statistics from maps of clean training images (any shape; every pixel counts)."""
        values = []
        for x in (seg, kd):
            x = x.detach().double().flatten()
            values += [x.mean(), x.std().clamp_min(1e-6)]
        self.stats.copy_(torch.stack(values).to(self.stats))

    def forward(self, seg: torch.Tensor | None, kd: torch.Tensor | None) -> torch.Tensor:
        """The map: ``kd`` when there is no head (ADPS ``psm=False``), ``seg`` for ``"seg"``, else the sum."""
        if seg is None:
            assert kd is not None, "a model without a segmentation head scores its KD map"
            return kd
        if not self.uses_kd:
            return seg
        assert kd is not None, "map_fusion='seg+kd' needs the KD map"
        mu_seg, sd_seg, mu_kd, sd_kd = self.stats
        return (seg - mu_seg) / sd_seg + (kd - mu_kd) / sd_kd


def level_distance_map(distances: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """The KD map: the mean over levels of per-level 1 − cos maps (B,1,h_l,w_l), bilinearly resized to ``size``."""
    resize = nn.functional.interpolate
    return torch.stack([resize(d, size=size, mode="bilinear", align_corners=False) for d in distances]).mean(0)
