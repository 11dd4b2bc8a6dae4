"""The KD signal in the map (both models): the segmentation map alone, or plus the distillation map.

``map_fusion="seg"`` is the papers' map: the segmentation head's output alone (ADPS Algorithm 1, DMDD §3.4).
``"seg+kd"`` adds the models' own distillation map, the mean over levels of 1 − cos(T_l, S_l) (ADPS: T against the
patch student, eq. 1; DMDD: T against the normality branch F^N), after standardising each map with its mean and std
over the pixels of clean training images:

    M = (M_seg − μ_seg) / σ_seg + (M_kd − μ_kd) / σ_kd

``map_fusion_scale="peak"`` divides each map, less its mean, by the mean over the training images of each image's
maximum less that mean instead of by the pixels' std, so that both maps' typical maximum on a normal image is 1:

    M = (M_seg − μ_seg) / (E[max M_seg] − μ_seg) + (M_kd − μ_kd) / (E[max M_kd] − μ_kd)

A head that outputs almost the same value on every clean pixel has a tiny std, and with ``"std"`` its map outweighs
the KD map wherever it fires, on whatever it learned from the synthetic anomalies (measured:
docs/experiments/2026-12-05-round15.md). Not the papers' (they have no fused map).

The head learns what the synthetic anomalies look like; the KD map reacts to whatever the student cannot reproduce,
real defects included (docs/experiments/2026-12-01-round5.md). The statistics are measured after the fit
(``SyntheticAnomalyKDMixin.calibrate_map_fusion``, at every validation during fitting), kept in a buffer, so they
travel in the checkpoint and into ONNX/OpenVINO exports as constants. The image score is each model's own score
(ADPS: max, DMDD: top-k mean) taken over the fused map, smoothed or not as ``score_map`` says
(components/smoothing.py).

``map_fusion_calibration`` says which normal images the statistics come from: ``"train"`` (the clean training
images, as they were trained on), ``"flips"`` (each of them mirrored or half-turned, one of the three symmetries that
keep rows as rows, in turn) or ``"views"`` (one of all seven other symmetries of the square each, quarter turns
included): normal images that a fit without ``train_augment`` never saw. Both maps have learned the training images,
the head far more than the KD map: on unseen good images the head's typical maximum grows several times over, the KD
map's little (docs/experiments/2026-12-06-round21.md). Statistics from the training images therefore give the head a
larger share of the sum on test images than on the images they were measured on; views of the training images are
unseen normal images without a held-out split. A quarter turn makes an oriented surface (brick's rows) abnormal, so
``"flips"`` keeps to the symmetries that leave its orientation. A model that trains on such views (``train_augment``
other than ``"none"``) has fitted them, so it refuses both. Not the papers': a CPU-recipe option.

``kd_pool`` (not the papers'; 1 = their per-position cosine) reads the KD map out of features averaged over
``kd_pool``×``kd_pool`` neighbourhoods of each level, 1 − cos(avg T_l, avg S_l), as PatchCore aggregates its patch
features. A student that has not learned an unseen normal surface errs at single positions; a defect moves a whole
neighbourhood, so the average keeps the defect and cancels much of the error (docs/experiments/2026-12-05-round13.md).
It changes how the map is read, not what is trained: the training losses and ADPS's Weight Mask Block keep the
per-position cosine.

``kd_pool_border`` says what a position near the map's edge, whose neighbourhood is partly outside the map, reads:
``"inside"`` averages the n positions inside the map (a corner 4 of 9, an edge 6), so less of the student's error
cancels there and, on good images, the map peaks in its border ring; ``"scaled"`` multiplies that distance by n /
``kd_pool``² (if the errors were independent, 1 − cos of an n-average would fall as 1/n, so the scale brings every
position to a full neighbourhood's level). Measured on trained checkpoints: docs/experiments/2026-12-05-round14.md.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from .options import check_choice

MapFusion = Literal["seg", "seg+kd"]
MAP_FUSIONS: tuple[str, ...] = get_args(MapFusion)
KdPoolBorder = Literal["inside", "scaled"]
KD_POOL_BORDERS: tuple[str, ...] = get_args(KdPoolBorder)
MapFusionScale = Literal["std", "peak"]
MAP_FUSION_SCALES: tuple[str, ...] = get_args(MapFusionScale)
MapFusionCalibration = Literal["train", "flips", "views"]
MAP_FUSION_CALIBRATIONS: tuple[str, ...] = get_args(MapFusionCalibration)


def check_map_fusion_calibration(calibration: MapFusionCalibration, train_augment: str) -> None:
    """Refuse ``"flips"`` and ``"views"`` for a model that trains on flipped or turned images: they are not unseen
    views for it."""
    check_choice("map_fusion_calibration", calibration, MAP_FUSION_CALIBRATIONS)
    if calibration != "train" and train_augment != "none":
        raise ValueError(
            f"map_fusion_calibration={calibration!r} measures the map fusion's statistics on flipped or turned "
            f"training images as normal images the model never saw, but train_augment={train_augment!r} trains on such "
            f"views. Use map_fusion_calibration='train', or train_augment='none'."
        )


def calibration_views(images: torch.Tensor, start: int = 0, turns: bool = True) -> torch.Tensor:
    """One unseen view of each image of a (B, C, H, W) batch for ``map_fusion_calibration="views"`` / ``"flips"``.

    Image j of the stream (``start`` + its index in the batch) takes the j-th (cyclically) of the non-identity
    symmetries of the square: with ``turns`` the seven (three quarter turns, then the horizontal flip with zero to
    three quarter turns), without them the three that keep every row a row (the horizontal and vertical flips and the
    half turn), which a non-square batch also gets. Each view is used equally often, and the statistics cost one pass
    over the training images, as ``"train"``'s do."""
    if turns and images.shape[-1] == images.shape[-2]:
        views = [(k, False) for k in (1, 2, 3)] + [(k, True) for k in range(4)]
    else:
        views = [(0, True), (2, True), (2, False)]  # flip, flip+half turn (= the vertical flip), half turn
    out = []
    for j, image in enumerate(images):
        k, flip = views[(start + j) % len(views)]
        out.append(torch.rot90(image.flip(-1) if flip else image, k, (-2, -1)))
    return torch.stack(out)


class FusedMap(nn.Module):
    """Combine the segmentation map and the KD map as ``map_fusion`` says (module docstring).

    Example:
        >>> fuse = FusedMap("seg+kd")
        >>> fuse.calibrate(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
        >>> fuse(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)).shape
        torch.Size([1, 1, 8, 8])
    """

    def __init__(
        self,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
    ) -> None:
        super().__init__()
        check_choice("map_fusion", map_fusion, MAP_FUSIONS)
        check_choice("kd_pool_border", kd_pool_border, KD_POOL_BORDERS)
        check_choice("map_fusion_scale", map_fusion_scale, MAP_FUSION_SCALES)
        if not (isinstance(kd_pool, int) and kd_pool >= 1 and kd_pool % 2 == 1):
            raise ValueError(
                f"kd_pool must be an odd positive integer (the side of the neighbourhood averaged before the KD "
                f"map's cosine; 1 is the papers' per-position cosine), got {kd_pool!r}"
            )
        self.map_fusion = map_fusion
        self.kd_pool = kd_pool
        self.kd_pool_border = kd_pool_border
        self.map_fusion_scale = map_fusion_scale
        # (μ_seg, s_seg, μ_kd, s_kd) over clean training images (s: ``map_fusion_scale``); identity until calibrated
        self.register_buffer("stats", torch.tensor([0.0, 1.0, 0.0, 1.0]))

    def kd_map(self, teacher: list[torch.Tensor], student: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """The KD map at ``size``: the mean over levels of 1 − cos(T_l, S_l), of ``kd_pool``-averaged features."""
        distances = level_distances(teacher, student, self.kd_pool, self.kd_pool_border)
        return level_distance_map(distances, size)

    @property
    def uses_kd(self) -> bool:
        """Whether the map needs the KD map (eval forwards skip computing it otherwise)."""
        return self.map_fusion == "seg+kd"

    @torch.no_grad()
    def calibrate(self, seg: torch.Tensor, kd: torch.Tensor) -> None:
        """Set the statistics from maps (B,1,H,W) of clean training images: each map's mean over every pixel and its
        scale, the pixels' std (``"std"``) or the mean of the images' maxima above that mean (``"peak"``)."""
        values = []
        for x in (seg, kd):
            x = x.detach().double()
            mean = x.mean()
            scale = x.std() if self.map_fusion_scale == "std" else x.flatten(1).amax(1).mean() - mean
            values += [mean, scale.clamp_min(1e-6)]
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


def level_distances(
    teacher: list[torch.Tensor], student: list[torch.Tensor], pool: int = 1, border: KdPoolBorder = "scaled"
) -> list[torch.Tensor]:
    """Per-level 1 − cos(T_l, S_l) maps (B,1,h_l,w_l); ``pool`` > 1 first averages both over pool×pool neighbourhoods
    (stride 1, the border averaging only the positions inside the map), so each map keeps its level's size;
    ``border="scaled"`` then multiplies each position by the share of its neighbourhood inside the map."""
    out = []
    for t, s in zip(teacher, student, strict=True):
        share = None
        if pool > 1:
            t, s = (nn.functional.avg_pool2d(x, pool, 1, pool // 2, count_include_pad=False) for x in (t, s))
            if border == "scaled":  # n / pool²: zero padding counted, so the average of ones is the share inside
                share = nn.functional.avg_pool2d(torch.ones_like(t[:, :1]), pool, 1, pool // 2, count_include_pad=True)
        distance = 1 - nn.functional.cosine_similarity(t, s, dim=1).unsqueeze(1)
        out.append(distance if share is None else distance * share)
    return out


def level_distance_map(distances: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """The KD map: the mean over levels of per-level 1 − cos maps (B,1,h_l,w_l), bilinearly resized to ``size``."""
    resize = nn.functional.interpolate
    return torch.stack([resize(d, size=size, mode="bilinear", align_corners=False) for d in distances]).mean(0)
