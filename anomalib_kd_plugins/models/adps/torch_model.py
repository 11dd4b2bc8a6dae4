"""ADPS torch model (Xing et al., IEEE TNNLS 2025): asymmetric teacher/student, Weight Mask Block, Post-Segmentation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from anomalib.data import InferenceBatch
from torch import nn

from anomalib_kd_plugins.components.backbone import (
    InferenceLayoutMixin,
    build_feature_extractor,
    feature_info,
    frozen_features,
    to_inference_layout,
)
from anomalib_kd_plugins.components.fusion import MAP_FUSIONS, KdPoolBorder, MapFusion, MapFusionScale
from anomalib_kd_plugins.components.options import check_choice
from anomalib_kd_plugins.components.smoothing import ScoreMap
from anomalib_kd_plugins.components.views import KdViews, KdViewsMixin, check_kd_views

from .anomaly_map import AnomalyMapGenerator
from .blocks import UpBlock
from .patches import merge_patches, split_patches


def weight_mask_block(
    teacher: list[torch.Tensor], student: list[torch.Tensor], detach: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """WMB, eqs. (1)-(2): W_i = per-position cos(T_i, S_i); C_i = (1 − W_i)·T_i. Returns (W, C); no parameters."""
    cos_maps = [F.cosine_similarity(t, s, dim=1).unsqueeze(1) for t, s in zip(teacher, student, strict=True)]
    weighted = [(1 - (w.detach() if detach else w)) * t for w, t in zip(cos_maps, teacher, strict=True)]
    return cos_maps, weighted


class PostSegmentationModule(nn.Module):
    """PSM, eqs. (3)-(6): UNet up-blocks from the deepest C_n, C_i concatenated where strides meet, 3×3 conv, 2 classes.

    Channel plan [A §1.5]: an up-block whose output meets a skip C_i takes C_i's width (1024→512→256 for WRN50),
    the others halve, never below ``min_channels``; up-blocks continue until the input resolution (stride 1).
    """

    def __init__(self, channels: Sequence[int], strides: Sequence[int], min_channels: int = 32) -> None:
        super().__init__()
        for s in strides:
            if s < 1 or s & (s - 1):
                raise ValueError(f"PSM needs power-of-two feature strides, got {list(strides)}")
        if len(set(strides)) != len(strides):
            raise ValueError(f"PSM needs one feature map per stride, got strides {list(strides)}")
        self.deepest = max(range(len(strides)), key=lambda i: strides[i])
        by_stride = {s: i for i, s in enumerate(strides)}
        stride, in_ch = strides[self.deepest], channels[self.deepest]
        self.blocks = nn.ModuleList()
        self.skip_index: list[int] = []
        for _ in range(int(math.log2(stride))):
            stride //= 2
            idx = by_stride.get(stride, -1)
            skip_ch = channels[idx] if idx >= 0 else 0
            out_ch = max(skip_ch if idx >= 0 else in_ch // 2, min_channels)
            self.blocks.append(UpBlock(in_ch, skip_ch, out_ch))
            self.skip_index.append(idx)
            in_ch = out_ch
        self.head = nn.Conv2d(in_ch, 2, kernel_size=3, padding=1)  # Conv_f of eq. (6); softmax applied by the caller

    def forward(self, weighted: list[torch.Tensor]) -> torch.Tensor:
        """Return 2-class logits at the input resolution."""
        x = weighted[self.deepest]  # P_0 = C_n
        for block, idx in zip(self.blocks, self.skip_index, strict=True):
            x = block(x, weighted[idx] if idx >= 0 else None)
        return self.head(x)


Fusion = Literal["wmb", "difference", "concat"]
FUSIONS = get_args(Fusion)
PsmInput = Literal["fused", "teacher_only", "student_only"]
PSM_INPUTS = get_args(PsmInput)


def check_ablation_options(
    fusion: Fusion, psm: bool, psm_input: PsmInput, asym_stage: int, n_layers: int, map_fusion: MapFusion = "seg"
) -> None:
    """Raise a ValueError for an unknown ablation option or a combination that means nothing (docs/adps.md)."""
    check_choice("fusion", fusion, FUSIONS)
    check_choice("psm_input", psm_input, PSM_INPUTS)
    check_choice("map_fusion", map_fusion, MAP_FUSIONS)
    if not psm and (fusion != "wmb" or psm_input != "fused"):
        raise ValueError("psm=False scores 1 − cos(T, S) directly: it takes no fusion or psm_input option")
    if not psm and map_fusion != "seg":
        raise ValueError("psm=False has no segmentation map to fuse: its map is the KD map already")
    if psm_input != "fused" and map_fusion != "seg":
        raise ValueError(f"psm_input={psm_input!r} runs one network only: there is no KD map to fuse")
    if psm_input != "fused" and fusion != "wmb":
        raise ValueError(f"psm_input={psm_input!r} feeds one network's features to the PSM: it has no fusion")
    if not 0 <= asym_stage < n_layers:
        raise ValueError(
            f"asym_stage must be 0 (split the image) or the number of a distilled stage whose input is split, "
            f"1..{n_layers - 1}; got {asym_stage}"
        )


class PsmInputs(NamedTuple):
    """One forward's features T_i and S_i (empty where an ablation runs no such network), the cos maps W_i of L_d
    (empty for "W/O S" and "W/O T") and the PSM inputs C_i."""

    teacher: list[torch.Tensor]
    student: list[torch.Tensor]
    cos_maps: list[torch.Tensor]
    weighted: list[torch.Tensor]


class SplitInput:
    """Forward pre-hook that splits a student stage's input feature map into k×k tiles (``asym_stage``, §1.3)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        del module
        return (split_patches(args[0], self.k), *args[1:])


def stage_module(extractor: nn.Module, layer: str) -> nn.Module:
    """The module of a timm feature extractor that computes ``layer`` (``blocks.1`` or its flattened ``blocks_1``)."""
    try:
        return extractor.get_submodule(layer)
    except AttributeError:
        return extractor.get_submodule(layer.replace(".", "_"))


class AdpsModel(KdViewsMixin, InferenceLayoutMixin, nn.Module):
    """Teacher on the whole image, student on its k×k patches (§1.1), WMB fusion, PSM segmentation, Algorithm 1.

    Train mode returns ``(logits, cos_maps)`` for the loss; eval mode ``InferenceBatch(pred_score, anomaly_map)``.
    """

    def __init__(
        self,
        backbone: str = "wide_resnet50_2",
        layers: Sequence[str] = ("layer1", "layer2", "layer3"),
        pre_trained: bool = True,
        student_pretrained: bool = False,
        k: int = 8,
        detach_wmb: bool = False,
        sigma: float = 4.0,
        psm_min_channels: int = 32,
        fusion: Fusion = "wmb",
        psm: bool = True,
        psm_input: PsmInput = "fused",
        asym_stage: int = 0,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        score_map: ScoreMap = "smoothed",
        kd_views: KdViews = "none",
    ) -> None:
        super().__init__()
        check_kd_views(kd_views)
        self.kd_views = kd_views
        if k < 1:
            raise ValueError(f"k (patch grid) must be a positive integer, got {k}")
        check_ablation_options(fusion, psm, psm_input, asym_stage, len(layers), map_fusion)
        self.k = k
        self.detach_wmb = detach_wmb
        self.backbone = backbone
        self.fusion, self.psm_input, self.asym_stage = fusion, psm_input, asym_stage
        self.teacher = build_feature_extractor(backbone, layers, pre_trained=pre_trained, requires_grad=False)
        self.student = build_feature_extractor(backbone, layers, pre_trained=student_pretrained, requires_grad=True)
        self.channels, self.strides = feature_info(self.teacher)
        if asym_stage > 0:  # split the feature map entering distilled stage `asym_stage` instead of the image
            stage = stage_module(self.student.feature_extractor, layers[asym_stage - 1])
            stage.register_forward_pre_hook(SplitInput(k))
        self.fuse = (
            nn.ModuleList(nn.Conv2d(2 * c, c, kernel_size=3, padding=1) for c in self.channels)
            if fusion == "concat"  # check_ablation_options: only with the PSM on fused inputs
            else None
        )
        self.psm = PostSegmentationModule(self.channels, self.strides, psm_min_channels) if psm else None
        self.anomaly_map_generator = AnomalyMapGenerator(
            sigma, map_fusion, kd_pool, kd_pool_border, map_fusion_scale, score_map
        )

    @property
    def size_multiple(self) -> int:
        """Image height and width must be multiples of k × the deepest feature stride."""
        return self.k * max(self.strides)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ValueError naming sizes that work when k or the strides do not divide the image."""
        m = self.size_multiple
        if height % m == 0 and width % m == 0:
            return
        patch = (height // self.k, width // self.k)
        works = [m * i for i in range(1, 9) if m * i <= 1024]
        problem = (
            f"k={self.k} does not divide the image size {height}×{width}"
            if height % self.k or width % self.k
            else f"each {patch[0]}×{patch[1]} patch is smaller than, or not a multiple of, the deepest feature stride "
            f"{max(self.strides)} (k is larger than the feature grid allows)"
        )
        raise ValueError(
            f"ADPS cannot use images of {height}×{width}: {problem}. With k={self.k} and backbone "
            f"{self.backbone!r} (feature strides {self.strides}), height and width must be multiples of "
            f"k × {max(self.strides)} = {m}, e.g. {works}. Resize the images through the pre-processor "
            f"(Adps.configure_pre_processor(image_size=({works[min(1, len(works) - 1)]}, "
            f"{works[min(1, len(works) - 1)]}))) or choose another k."
        )

    def teacher_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """T_i on the holistic image (frozen teacher)."""
        return frozen_features(self.teacher, images)

    def student_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """S_i from the student run on the k×k patches (or on the tiles of stage ``asym_stage``'s input), re-tiled."""
        if self.asym_stage == 0:
            images = split_patches(images, self.k)
        features = self.student(images).values()
        # with asym_stage = s ≥ 1, distilled stages 1..s−1 ran on the whole image and stages s..n per tile
        return [f if i < self.asym_stage - 1 else merge_patches(f, self.k) for i, f in enumerate(features)]

    def teacher_student_features(
        self, images: torch.Tensor, teacher: list[torch.Tensor] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """T_i on the holistic image, S_i from the student run on the k×k patches and re-tiled (§1.1-1.3); ``teacher``:
        T_i of these images already computed (the frozen teacher gives the same every time)."""
        return (self.teacher_features(images) if teacher is None else teacher), self.student_features(images)

    def psm_inputs(self, images: torch.Tensor, teacher: list[torch.Tensor] | None = None) -> PsmInputs:
        """Features, cos maps W_i for L_d and PSM inputs C_i: WMB, or the ablation that ``fusion`` / ``psm_input``
        pick (``teacher``: as in ``teacher_student_features``)."""
        if self.psm_input == "teacher_only":  # Table VIII "W/O S": the frozen teacher's features, no student, no L_d
            teacher = self.teacher_features(images) if teacher is None else teacher
            return PsmInputs(teacher, [], [], teacher)
        if self.psm_input == "student_only":  # Table VIII "W/O T": the student's features, no teacher, no L_d
            student = self.student_features(images)
            return PsmInputs([], student, [], student)
        teacher, student = self.teacher_student_features(images, teacher)
        cos_maps, weighted = weight_mask_block(teacher, student, detach=self.detach_wmb)
        if self.fusion == "difference":  # Fig. 8 method (1): C_i = T_i − S_i
            weighted = [t - s for t, s in zip(teacher, student, strict=True)]
        elif self.fuse is not None:  # Fig. 8 method (2): C_i = Conv3×3([T_i, S_i])
            weighted = [conv(torch.cat([t, s], 1)) for conv, t, s in zip(self.fuse, teacher, student, strict=True)]
        return PsmInputs(teacher, student, cos_maps, weighted)

    def distill(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The cos maps W_i alone (no PSM): what a distillation-only step (``student_warmup_epochs``) trains."""
        return weight_mask_block(*self.teacher_student_features(images))[0]

    def student_distances(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean 1 − cos(T_i, S_i) per level over ``images`` (``level1`` ... shallow to deep): the convergence curve."""
        return self.distances_of(self.distill(images))

    @staticmethod
    def distances_of(cos_maps: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """``student_distances`` from the cos maps W_i already computed."""
        return {f"level{i}": (1 - w).mean() for i, w in enumerate(cos_maps, 1)}

    def maps(
        self,
        images: torch.Tensor,
        kd: bool = True,
        teacher: list[torch.Tensor] | None = None,
        seg: bool = True,
        views: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(segmentation map, KD map) at the input size before fusion and smoothing; ``None`` where a part is absent.

        ``kd=False`` skips the KD map (the paper's map does not need it, so its export graph does not carry it);
        ``seg=False`` skips the PSM (the learning curves before the PSM's first step); ``teacher``: T_i of ``images``
        already computed (the learning curves' fixed probe images). The KD map is averaged over the test-time views
        that ``kd_views`` names (components/views.py) unless ``views=False`` (the learning curves: the single view
        that training distils).
        """
        return self.with_views(
            self.maps_of(self.psm_inputs(images, teacher), images.shape[-2:], kd, seg), images, views
        )

    def kd_map_of(self, images: torch.Tensor) -> torch.Tensor:
        """The KD map of ``images`` alone (no PSM), at their size."""
        return self.anomaly_map_generator.kd_map(*self.teacher_student_features(images), images.shape[-2:])

    def maps_of(
        self, inputs: PsmInputs, size: tuple[int, int], kd: bool = True, seg: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``maps`` from features already computed (``psm_inputs``), at ``size`` (``seg=False``: the PSM skipped)."""
        logits = self.psm(inputs.weighted) if self.psm is not None and seg else None
        generator = self.anomaly_map_generator
        seg_map = None if logits is None else generator.segmentation_map(logits)
        need_kd = bool(inputs.cos_maps) and (kd or seg_map is None)
        return seg_map, generator.kd_map(inputs.teacher, inputs.student, size) if need_kd else None

    def maps_and_distances(
        self, images: torch.Tensor, teacher: list[torch.Tensor] | None = None, seg: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, dict[str, torch.Tensor]]:
        """``maps(images)`` and ``student_distances(images)`` from one pass of teacher and student (the learning
        curves need both of the same clean images every epoch; ``teacher`` and ``seg`` as in ``maps``)."""
        inputs = self.psm_inputs(images, teacher)
        seg_map, kd = self.maps_of(inputs, images.shape[-2:], seg=seg)
        if not inputs.cos_maps:  # W/O S, W/O T: no distillation in the pass; the curve reads the untrained student
            return seg_map, kd, self.student_distances(images)
        return seg_map, kd, self.distances_of(inputs.cos_maps)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor | None, list[torch.Tensor]] | InferenceBatch:
        """Algorithm 1. Train: (logits, None without PSM; cos maps W_i). Eval: InferenceBatch(score, map)."""
        if not torch.compiler.is_compiling():
            self.check_input_size(images.shape[-2], images.shape[-1])
        if self.training:
            inputs = self.psm_inputs(images)
            return (self.psm(inputs.weighted) if self.psm is not None else None), inputs.cos_maps
        # psm=False (Table VIII "W/O PW") scores the plain asymmetric KD map, mean over levels of 1 − W_i
        seg, kd = self.maps(to_inference_layout(images), kd=self.anomaly_map_generator.fusion.uses_kd)
        anomaly_map, pred_score = self.anomaly_map_generator(seg, kd)
        return InferenceBatch(pred_score=pred_score, anomaly_map=anomaly_map)
