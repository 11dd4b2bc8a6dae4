"""DMDD torch model (Liu et al., ACM MM 2024): frozen teacher, DeSTSeg-style student with decoupled normality and
abnormality branches, and a multi-perception segmentation network (reconstruction, docs/dmdd.md §2.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import timm
import torch
import torch.nn.functional as F
from anomalib.data import InferenceBatch
from torch import nn

from anomalib_kd_plugins.components.backbone import (
    InferenceLayoutMixin,
    build_feature_extractor,
    check_backbone_name,
    feature_info,
    frozen_features,
    to_inference_layout,
)
from anomalib_kd_plugins.components.fusion import KdPoolBorder, MapFusion, MapFusionScale
from anomalib_kd_plugins.components.smoothing import ScoreMap
from anomalib_kd_plugins.components.views import KdViews, KdViewsMixin, check_kd_views

from .anomaly_map import AnomalyMapGenerator
from .attention import AsppForm, MultiPerceptionHead
from .blocks import DecoupleHead, make_res_layer
from .loss import cosine_distance


class DmddFeatures(NamedTuple):
    """Per-level teacher, normality and abnormality features of one batch."""

    teacher: list[torch.Tensor]
    normality: list[torch.Tensor]
    abnormality: list[torch.Tensor]


def student_encoder_layers(backbone: str, layers: Sequence[str]) -> list[str]:
    """The teacher's layers plus the next deeper stage, if any (DeSTSeg: resnet18 layer1-3 → encoder layer1-4)."""
    check_backbone_name(backbone)
    names = timm.create_model(backbone, features_only=True, pretrained=False).feature_info.module_name()
    missing = [layer for layer in layers if layer not in names]
    if missing:
        raise ValueError(f"Backbone {backbone!r} has no feature layers {missing}. Available layers: {names}.")
    deepest = max(names.index(layer) for layer in layers)
    return [*layers, names[deepest + 1]] if deepest + 1 < len(names) else list(layers)


class StudentDecoder(nn.Module):
    """DeSTSeg decoder: residual layers from the deepest encoder map, bilinear up to each teacher level, no skips.

    ``skips=True`` (not DeSTSeg's) concatenates the encoder's own map of each level to the upsampled input of that
    level's layer, a UNet's skip connections: at 128² the deepest map of a stride-32 encoder is 4×4, and every
    stride-4 detail must otherwise come through it (docs/experiments/2026-12-04-round12.md).
    """

    def __init__(self, in_channels: int, level_channels: Sequence[int], skips: bool = False) -> None:
        super().__init__()
        self.skips = skips
        self.bottom = make_res_layer(in_channels, in_channels, 2)
        self.levels = nn.ModuleList()
        for channels in reversed(level_channels):
            self.levels.append(make_res_layer(in_channels + (channels if skips else 0), channels, 2))
            in_channels = channels

    def forward(
        self, deepest: torch.Tensor, sizes: Sequence[torch.Size], encoded: Sequence[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Decode to one map per teacher level (shallow → deep order, matching ``sizes`` and ``encoded``, the
        encoder's maps at those levels, which ``skips`` needs)."""
        if self.skips and (encoded is None or len(encoded) != len(sizes)):
            raise ValueError("StudentDecoder(skips=True) needs the encoder's map at every level")
        x, out = self.bottom(deepest), []
        for i, (layer, size) in enumerate(zip(self.levels, reversed(sizes), strict=True)):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            if self.skips:
                x = torch.cat([x, encoded[len(sizes) - 1 - i]], dim=1)
            x = layer(x)
            out.append(x)
        return out[::-1]


class SegmentationNetwork(nn.Module):
    """DMDD segmentation network: per-level −T̂⊙F̂^N and −T̂⊙F̂^A, upsampled to level 1, residual body, MP head."""

    def __init__(
        self,
        in_channels: int,
        channels: int = 256,
        atrous_rates: Sequence[int] = (6, 12, 18),
        aspp: AsppForm = "torchvision",
    ) -> None:
        super().__init__()
        self.body = make_res_layer(in_channels, channels, 2)
        self.head = MultiPerceptionHead(channels, atrous_rates, aspp)

    @staticmethod
    def fuse_inputs(features: DmddFeatures) -> torch.Tensor:
        """[A §2.2] concat over levels of −T̂⊙F̂^N and −T̂⊙F̂^A (L2-normalised along channels) at level-1 size."""
        size = features.teacher[0].shape[-2:]
        maps = []
        for t, n, a in zip(features.teacher, features.normality, features.abnormality, strict=True):
            t_hat = F.normalize(t, dim=1)
            for branch in (n, a):
                product = -t_hat * F.normalize(branch, dim=1)
                maps.append(F.interpolate(product, size=size, mode="bilinear", align_corners=False))
        return torch.cat(maps, dim=1)

    def forward(self, features: DmddFeatures) -> torch.Tensor:
        """Return (B,1,h1,w1) anomaly logits at the first level's resolution."""
        return self.head(self.body(self.fuse_inputs(features)))


class DmddModel(KdViewsMixin, InferenceLayoutMixin, nn.Module):
    """Teacher T, student encoder–decoder with decoupling heads, segmentation network.

    Train mode returns ``(features, seg_logits)``; eval mode returns ``InferenceBatch(pred_score, anomaly_map)``.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        layers: Sequence[str] = ("layer1", "layer2", "layer3"),
        pre_trained: bool = True,
        decouple_expansion: int = 2,
        seg_channels: int = 256,
        atrous_rates: Sequence[int] = (6, 12, 18),
        score_top_k: int = 100,
        aspp: AsppForm = "torchvision",
        decouple: bool = True,
        sigma: float = 0.0,
        map_fusion: MapFusion = "seg",
        student_skips: bool = False,
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        score_map: ScoreMap = "raw",
        kd_views: KdViews = "none",
    ) -> None:
        super().__init__()
        check_kd_views(kd_views)
        self.kd_views = kd_views
        self.backbone = backbone
        self.teacher = build_feature_extractor(backbone, layers, pre_trained=pre_trained, requires_grad=False)
        self.channels, self.strides = feature_info(self.teacher)
        encoder_layers = student_encoder_layers(backbone, layers)
        self.student_encoder = build_feature_extractor(backbone, encoder_layers, pre_trained=False, requires_grad=True)
        encoder_channels, encoder_strides = feature_info(self.student_encoder)
        self.max_stride = max(encoder_strides)
        self.student_decoder = StudentDecoder(encoder_channels[-1], self.channels, skips=student_skips)
        self.decouple = nn.ModuleList(DecoupleHead(c, decouple_expansion) for c in self.channels) if decouple else None
        self.segmentation = SegmentationNetwork(2 * sum(self.channels), seg_channels, atrous_rates, aspp)
        self.anomaly_map_generator = AnomalyMapGenerator(
            score_top_k, sigma, map_fusion, kd_pool, kd_pool_border, map_fusion_scale, score_map
        )

    def student_modules(self) -> list[nn.Module]:
        """The modules trained by the distillation phase."""
        return [m for m in (self.student_encoder, self.student_decoder, self.decouple) if m is not None]

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ValueError naming sizes that work when the deepest stride does not divide the image."""
        m = self.max_stride
        if height % m or width % m:
            works = [m * i for i in range(1, 33) if 64 <= m * i <= 512][:8]
            raise ValueError(
                f"DMDD cannot use images of {height}×{width}: with backbone {self.backbone!r} the student encoder "
                f"reaches stride {m}, so height and width must be multiples of {m}, e.g. {works}. Resize the images "
                f"through the pre-processor (Dmdd.configure_pre_processor(image_size=(256, 256)))."
            )

    def teacher_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Frozen teacher features T_l(images)."""
        return frozen_features(self.teacher, images)

    def student_features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Decoupled student features (F^N_l, F^A_l) of ``images``."""
        encoded = list(self.student_encoder(images).values())
        sizes = [f.shape[-2:] for f in encoded[: len(self.channels)]]
        decoded = self.student_decoder(encoded[-1], sizes, encoded[: len(self.channels)])
        if self.decouple is None:  # ``decouple=False``: a plain student, one feature map serves both branches
            return decoded, decoded
        pairs = [head(f) for head, f in zip(self.decouple, decoded, strict=True)]
        return [n for n, _ in pairs], [a for _, a in pairs]

    def features(self, images: torch.Tensor, teacher: list[torch.Tensor] | None = None) -> DmddFeatures:
        """Teacher and decoupled student features of the same images; ``teacher``: the teacher's, already computed
        (the frozen teacher gives the same every time)."""
        normality, abnormality = self.student_features(images)
        return DmddFeatures(self.teacher_features(images) if teacher is None else teacher, normality, abnormality)

    @staticmethod
    def branch_distances(features: DmddFeatures, branch: str) -> list[torch.Tensor]:
        """Per-level 1 − cos(T_l, F_l) maps (B,1,h_l,w_l) of one branch, ``"normality"`` or ``"abnormality"``."""
        return [cosine_distance(t, f) for t, f in zip(features.teacher, getattr(features, branch), strict=True)]

    def student_distances(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean 1 − cos to the teacher per branch and level over ``images`` (``normality_level1`` ...)."""
        return self.distances_of(self.features(images))

    def distances_of(self, features: DmddFeatures) -> dict[str, torch.Tensor]:
        """``student_distances`` from features already computed (``features``)."""
        return {
            f"{branch}_level{i}": d.mean()
            for branch in ("normality", "abnormality")
            for i, d in enumerate(self.branch_distances(features, branch), 1)
        }

    def maps(
        self,
        images: torch.Tensor,
        kd: bool = True,
        teacher: list[torch.Tensor] | None = None,
        seg: bool = True,
        views: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(segmentation map, KD map of the normality branch) at the input size, before fusion and smoothing
        (``teacher``: as in ``features``; ``kd=False`` / ``seg=False`` skip a map, ``None`` in its place); the KD map
        averaged over the test-time views that ``kd_views`` names (components/views.py) unless ``views=False`` (the
        learning curves: the single view that training distils)."""
        return self.with_views(self.maps_of(self.features(images, teacher), images.shape[-2:], kd, seg), images, views)

    def kd_map_of(self, images: torch.Tensor) -> torch.Tensor:
        """The normality branch's KD map of ``images`` alone (no head), at their size."""
        normality, _ = self.student_features(images)
        return self.anomaly_map_generator.kd_map(self.teacher_features(images), normality, images.shape[-2:])

    def maps_of(
        self, features: DmddFeatures, size: tuple[int, int], kd: bool = True, seg: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``maps`` from features already computed (``features``), at ``size``."""
        generator = self.anomaly_map_generator
        seg_map = generator.segmentation_map(self.segmentation(features), size) if seg else None
        return seg_map, generator.kd_map(features.teacher, features.normality, size) if kd else None

    def maps_and_distances(
        self, images: torch.Tensor, teacher: list[torch.Tensor] | None = None, seg: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, dict[str, torch.Tensor]]:
        """``maps(images)`` and ``student_distances(images)`` from one pass of teacher and student (the learning
        curves need both of the same clean images every epoch; ``teacher`` and ``seg`` as in ``maps``)."""
        features = self.features(images, teacher)
        return *self.maps_of(features, images.shape[-2:], seg=seg), self.distances_of(features)

    def forward(self, images: torch.Tensor) -> tuple[DmddFeatures, torch.Tensor] | InferenceBatch:
        """Train: (features, seg logits). Eval: InferenceBatch with the segmentation map and top-k score."""
        if not torch.compiler.is_compiling():
            self.check_input_size(images.shape[-2], images.shape[-1])
        if self.training:
            features = self.features(images)
            return features, self.segmentation(features)
        images = to_inference_layout(images)
        features = self.features(images)
        logits = self.segmentation(features)
        size, generator = images.shape[-2:], self.anomaly_map_generator
        kd = generator.kd_map(features.teacher, features.normality, size) if generator.fusion.uses_kd else None
        kd = None if kd is None else self.views_kd_map(kd, images)
        anomaly_map, pred_score = generator(logits, size, kd)
        return InferenceBatch(pred_score=pred_score, anomaly_map=anomaly_map)
