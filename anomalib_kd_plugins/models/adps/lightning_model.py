"""``Adps``: the anomalib Lightning module for ADPS (Xing et al., IEEE TNNLS 2025, arXiv 2210.10495).

Paper defaults (§IV-A2): 256×256 input, k = 8, WideResNet-50-2 teacher (layers 1-3), Adam lr 1e-4, batch 32,
300 epochs with lr ×0.2 at epochs 240 and 270, λ = 1. Options that the paper leaves open are marked [A] and
documented in ``docs/adps.md`` (§1.x; tags: ``docs/README.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from anomalib.data import Batch
from anomalib.metrics import Evaluator
from anomalib.models.components import AnomalibModule
from anomalib.post_processing import PostProcessor
from anomalib.pre_processing import PreProcessor
from anomalib.visualization import Visualizer
from lightning.pytorch.utilities.types import STEP_OUTPUT

from anomalib_kd_plugins.components.augment import NormalViews, TrainAugment
from anomalib_kd_plugins.components.fusion import (
    KdPoolBorder,
    MapFusion,
    MapFusionCalibration,
    MapFusionScale,
    check_map_fusion_calibration,
)
from anomalib_kd_plugins.components.losses import MASK_DOWNSAMPLE_MODES, MaskDownsample
from anomalib_kd_plugins.components.mixin import SyntheticAnomalyKDMixin
from anomalib_kd_plugins.components.options import check_choice
from anomalib_kd_plugins.components.smoothing import ScoreMap
from anomalib_kd_plugins.components.student_lr import STUDENT_LR_SCHEDULES, StudentLrSchedule
from anomalib_kd_plugins.components.synthesis import AnomalySource, AnomalySynthesizer
from anomalib_kd_plugins.components.views import KdViews

from .loss import AdpsLoss
from .schedule import WarmupMultiStep, multistep_milestones
from .torch_model import AdpsModel, Fusion, PsmInput

logger = logging.getLogger(__name__)


class Adps(SyntheticAnomalyKDMixin, AnomalibModule):
    """Asymmetric Distillation Post-Segmentation.

    Args:
        backbone: timm CNN for teacher and student. Paper: ``wide_resnet50_2``.
        layers: teacher/student stages distilled (n = 3 stages is [A §1.3]); ``None``: the backbone's stages at
            strides 4/8/16 (``layer1..3`` for ResNets, ``blocks.1/2/4`` for tf_efficientnet_lite0).
        pre_trained: load ImageNet weights for the frozen teacher (offline: ``anomalib-kd weights seed``).
        student_pretrained: initialise the student from the same weights [A §1.3; paper: unspecified, default random].
        k: the student sees k×k non-overlapping patches (§III-A; paper k = 8).
        detach_wmb: stop the segmentation loss's gradient through W_i into the student [A §1.4; default: flows].
        focal_gamma: focal exponent τ of eq. (8) [A §1.6; default 2, DeSTSeg uses 4].
        lambda_seg: λ of eq. (9) (paper: 1).
        mask_downsample: how Y reaches feature resolution, ``"bilinear"`` (+ >0.5) or ``"max"`` [A §1.6].
        sigma: σ of the Gaussian filter G in Algorithm 1 [A §1.9; default 4]; 0 disables smoothing.
        score_map: the map whose max is the image score: ``"smoothed"`` (Algorithm 1, Sc = max(G(M))) or ``"raw"``
            (M before G: the PSM's sharp peak on a small defect, which G spreads; the pixel metrics keep G(M)). Not
            the paper's: a CPU-recipe option (docs/experiments/2026-12-06-round20.md).
        psm_min_channels: narrowest PSM up-block [A §1.5]; the WRN50 plan 512/256/128/64 is unaffected.
        lr: Adam learning rate (paper: 1e-4).
        lr_decay_epochs: fractions of ``max_epochs`` where lr is multiplied by ``lr_decay`` (paper: 240/270 of 300).
        lr_decay: the lr factor at each milestone (paper: 0.2).
        anomaly_source: what fills the synthetic anomalies: ``"perlin"`` (anomalib's grey Perlin fill),
            ``"self"`` (zoomed, turned crops of the training images), ``"procedural"`` (generated textures),
            ``"mixed"`` (one of those three per anomaly), ``"matched"`` (contrast-matched fills, strokes, spots, warps
            and displaced patches that keep the surface's local contrast) or
            ``"folder"`` (``anomaly_source_path``; the paper pastes DTD textures). ``None``: ``"folder"`` when a path
            is given, else ``"perlin"`` (components/synthesis.py).
        anomaly_source_path: a DTD-layout texture folder for ``anomaly_source="folder"``. Never downloads.
        anomaly_probability: share of training images that get a synthetic anomaly [A §1.7; DRAEM: 0.5].
        fusion: how teacher and student features become the PSM input C_i: ``"wmb"`` (eq. 2, the paper's model),
            ``"difference"`` (T_i − S_i) or ``"concat"`` (3×3 conv over [T_i, S_i]), the alternatives of the
            paper's fusion ablation (docs/adps.md, "Ablation options").
        psm: ``False`` drops WMB and PSM and scores the plain asymmetric KD map, the mean over levels of
            1 − cos(T_i, S_i), trained by L_d alone (the paper's "W/O PW").
        psm_input: ``"fused"`` (default), ``"teacher_only"`` (C_i = T_i, no student and no L_d: "W/O S") or
            ``"student_only"`` (C_i = S_i, no teacher and no L_d: "W/O T").
        asym_stage: where the student's input becomes k×k patches: 0 splits the image (the paper's model); s ≥ 1
            runs the student on the whole image up to distilled stage s and splits that stage's input feature map
            [A: our reading of the paper's stage-asymmetry table].
        map_fusion: ``"seg"`` (the paper's map: the PSM's probability) or ``"seg+kd"`` (plus the asymmetric KD map
            1 − W, each standardised on clean training images; the score is the max of the fused map;
            components/fusion.py). Not the paper's; a CPU-recipe option.
        kd_pool: the KD map (of ``"seg+kd"``, or the whole map with ``psm=False``) from features averaged over
            ``kd_pool``×``kd_pool`` neighbourhoods of each level, 1 − cos(avg T, avg S); 1 (the papers' per-position
            cosine) or an odd size. Training and the WMB are unchanged. Not the paper's: a CPU-recipe option
            (components/fusion.py).
        kd_pool_border: with ``kd_pool`` > 1, what a position near the map's edge reads: ``"scaled"`` (the
            distance of the positions inside its neighbourhood times their share of it) or ``"inside"`` (their
            distance alone, which peaks in the border ring on good images; components/fusion.py).
        map_fusion_scale: how ``"seg+kd"`` scales each map before adding them: ``"std"`` (its pixels' std on clean
            training images) or ``"peak"`` (its typical per-image maximum there, so a head that is near-constant on
            clean pixels does not outweigh the KD map; components/fusion.py). Not the paper's: a CPU-recipe option.
        kd_views: the KD map averaged over test-time views of the image, each turned back: ``"none"`` (the papers),
            ``"flip"`` (plus its mirror), ``"flips"`` (the four symmetries that keep rows as rows) or ``"dihedral"``
            (all eight); the student's errors on unseen normal images move with the view, a defect does not. One
            more teacher and student pass per view; the head's map and training are unchanged. Not the paper's: a
            CPU-recipe option (components/views.py).
        map_fusion_calibration: which normal images the fusion's statistics come from: ``"train"`` (the clean
            training images), ``"flips"`` (each mirrored or half-turned) or ``"views"`` (each flipped or turned):
            normal images the fit never saw, where the head's peaks grow more than the KD map's; the last two need
            ``train_augment="none"`` (components/fusion.py). Not the paper's: a CPU-recipe option.
        student_warmup_epochs: epochs at the start of the fit in which the student alone learns the teacher on clean
            images (eq. 7 with Y = 0; no synthesis, no PSM, several times cheaper than a full step); the lr
            milestones are fractions of the epochs after it. Not the paper's (0): a CPU-budget option.
        student_warmup_lr: Adam's lr during the warm-up; ``None``: ``lr``. The cheap student-only steps can take a
            larger lr than the PSM's training (docs/experiments/2026-12-03-round10.md). A CPU-budget option.
        student_lr_schedule: the warm-up's lr: ``"constant"``, ``"cosine"`` (annealed from ``student_warmup_lr``
            towards 0 over the warm-up's epochs, so the student's distance to the teacher settles instead of falling
            as a power of the epochs) or ``"multistep"`` (the paper's ×0.2 at 80 % and 90 %, applied to the
            warm-up's epochs); the joint training after it starts at ``lr`` as without a warm-up
            (components/student_lr.py). Needs ``student_warmup_epochs``. A CPU-budget option.
        train_augment: random views of each normal training image before anything else sees it: ``"none"`` (the
            paper), ``"flip"``, ``"dihedral"`` or ``"dihedral+zoom"`` (flips, quarter turns, zooms up to 1.25×;
            components/augment.py). Not the paper's: a CPU-recipe option for a student that learns its few training
            images by heart.
        probe_images: clean training images kept for the learning curves logged each epoch (student 1 − cos per
            level; pixel AP of the PSM map, the KD map and the fused map on fixed synthetic anomalies); 0: none.

    Example:
        >>> from anomalib.engine import Engine
        >>> model = Adps(backbone="tf_efficientnet_lite0", k=2, pre_processor=Adps.configure_pre_processor((128, 128)))
        >>> Engine(max_epochs=10).fit(model, datamodule=MVTecAD(root="./datasets/realphoto", category="brick"))
    """

    def __init__(
        self,
        backbone: str = "wide_resnet50_2",
        layers: Sequence[str] | None = None,
        pre_trained: bool = True,
        student_pretrained: bool = False,
        k: int = 8,
        detach_wmb: bool = False,
        focal_gamma: float = 2.0,
        lambda_seg: float = 1.0,
        mask_downsample: MaskDownsample = "bilinear",
        sigma: float = 4.0,
        score_map: ScoreMap = "smoothed",
        psm_min_channels: int = 32,
        lr: float = 1e-4,
        lr_decay_epochs: Sequence[float] = (0.8, 0.9),
        lr_decay: float = 0.2,
        anomaly_source: AnomalySource | None = None,
        anomaly_source_path: str | None = None,
        anomaly_probability: float = 0.5,
        fusion: Fusion = "wmb",
        psm: bool = True,
        psm_input: PsmInput = "fused",
        asym_stage: int = 0,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        map_fusion_calibration: MapFusionCalibration = "train",
        kd_views: KdViews = "none",
        student_warmup_epochs: int = 0,
        student_warmup_lr: float | None = None,
        student_lr_schedule: StudentLrSchedule = "constant",
        train_augment: TrainAugment = "none",
        probe_images: int = 16,
        pre_processor: PreProcessor | bool = True,
        post_processor: PostProcessor | bool = True,
        evaluator: Evaluator | bool = True,
        visualizer: Visualizer | bool = True,
    ) -> None:
        layers, pre_processor = self.resolve_defaults(backbone, layers, pre_processor)
        super().__init__(
            pre_processor=pre_processor, post_processor=post_processor, evaluator=evaluator, visualizer=visualizer
        )
        check_choice("mask_downsample", mask_downsample, MASK_DOWNSAMPLE_MODES)
        self.model = AdpsModel(
            backbone=backbone,
            layers=tuple(layers),
            pre_trained=pre_trained,
            student_pretrained=student_pretrained,
            k=k,
            detach_wmb=detach_wmb,
            sigma=sigma,
            psm_min_channels=psm_min_channels,
            fusion=fusion,
            psm=psm,
            psm_input=psm_input,
            asym_stage=asym_stage,
            map_fusion=map_fusion,
            kd_pool=kd_pool,
            kd_pool_border=kd_pool_border,
            map_fusion_scale=map_fusion_scale,
            score_map=score_map,
            kd_views=kd_views,
        )
        if student_warmup_epochs < 0 or (student_warmup_epochs and psm_input != "fused"):
            raise ValueError(
                f"student_warmup_epochs must be ≥ 0 and needs the student's distillation (psm_input='fused'), got "
                f"{student_warmup_epochs} with psm_input={psm_input!r}"
            )
        if student_warmup_lr is not None and not (student_warmup_lr > 0 and student_warmup_epochs):
            raise ValueError(
                f"student_warmup_lr must be > 0 and needs student_warmup_epochs > 0, got {student_warmup_lr} with "
                f"student_warmup_epochs={student_warmup_epochs}; leave it None to warm up at `lr`"
            )
        check_choice("student_lr_schedule", student_lr_schedule, STUDENT_LR_SCHEDULES)
        if student_lr_schedule != "constant" and not student_warmup_epochs:
            raise ValueError(
                f"student_lr_schedule={student_lr_schedule!r} shapes the warm-up's lr and needs "
                "student_warmup_epochs > 0; set a warm-up or leave it 'constant'"
            )
        self.student_warmup_epochs = student_warmup_epochs
        self.student_warmup_lr = student_warmup_lr
        self.student_lr_schedule = student_lr_schedule
        self.augment = NormalViews(train_augment)
        check_map_fusion_calibration(map_fusion_calibration, train_augment)
        self.map_fusion_calibration = map_fusion_calibration
        self.probe_images = probe_images
        self.loss = AdpsLoss(focal_gamma=focal_gamma, lambda_seg=lambda_seg, mask_downsample=mask_downsample)
        self.synthesizer = AnomalySynthesizer(
            anomaly_source_path, probability=anomaly_probability, source=anomaly_source
        )
        self.lr = lr
        self.lr_decay_epochs = tuple(lr_decay_epochs)
        self.lr_decay = lr_decay
        self.validate_input_size()  # fail at construction, before any data is read

    def head_trained(self) -> bool:
        """Whether the PSM has taken a step by the end of this epoch: not during ``student_warmup_epochs`` (the
        learning curves skip its map until then; components/mixin.py)."""
        return self.current_epoch >= self.student_warmup_epochs

    def training_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Synthesise anomalies, run teacher/student/WMB/PSM, return L = L_d + λ·L_s (eq. 9).

        During ``student_warmup_epochs``: the student alone on the clean images, L_d of eq. (7) with Y = 0. With
        ``train_augment``, every step first takes a random view of each image (the probe keeps the images as loaded).
        """
        del args, kwargs
        self.remember_probe_images(batch.image)
        images = self.augment(self.checked_images(batch))
        if self.current_epoch < self.student_warmup_epochs:
            logits, cos_maps, masks = None, self.model.distill(images), images.new_zeros(images[:, :1].shape)
        else:
            images, masks = self.synthesize(batch, images)
            logits, cos_maps = self.model(images)
        loss, parts = self.loss(logits, cos_maps, masks)
        self.ensure_finite(loss, "lower `lr`")
        # to the run's logger when it has one (Lightning's default), with the batch size it cannot infer from a Batch
        log = {"on_step": False, "on_epoch": True, "batch_size": len(images)}
        self.log("train_loss", loss, prog_bar=True, **log)
        self.log_dict(parts, **log)
        return {"loss": loss}

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[dict[str, Any]]]:
        """Adam (lr 1e-4) on student + PSM; lr ×0.2 at 80 % and 90 % of max_epochs (240/270 of 300).

        With a warm-up the milestones count from its end, and ``student_warmup_lr`` (if set) holds during it, or is
        annealed over it (``student_lr_schedule="cosine"``).
        """
        params = [p for name, p in self.model.named_parameters() if not name.startswith("teacher.") and p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        milestones = multistep_milestones(
            self.trainer.max_epochs if self._trainer else None, self.lr_decay_epochs, self.student_warmup_epochs
        )
        factor = WarmupMultiStep(
            warmup_epochs=self.student_warmup_epochs,
            warmup_factor=(self.student_warmup_lr or self.lr) / self.lr,
            milestones=tuple(milestones),
            gamma=self.lr_decay,
            warmup_schedule=self.student_lr_schedule,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return [optimizer], [{"scheduler": scheduler, "interval": "epoch"}]
