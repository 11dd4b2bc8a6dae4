"""``Dmdd``: the anomalib Lightning module for DMDD (Liu et al., ACM MM 2024, arXiv 2408.03888).

No official code exists; the architecture is the reconstruction of docs/dmdd.md §2.2 on DeSTSeg's skeleton (§2.3).
Every [A] is a constructor option whose default is that proposal: resnet18 teacher (layers 1-3), expansion-2
decoupling heads, unmasked NGM, AIM-1 against T(I_a), focal(γ=4)+L1 segmentation, DeSTSeg's two-phase SGD
schedule (student phase for the first 20 % of steps, then the segmentation phase with the student frozen), and a
top-100 mean image score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

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
from anomalib_kd_plugins.components.student_lr import STUDENT_LR_SCHEDULES, StudentLrSchedule, student_lr_factor
from anomalib_kd_plugins.components.synthesis import AnomalySource, AnomalySynthesizer
from anomalib_kd_plugins.components.views import KdViews

from .attention import AsppForm
from .loss import AIM_TARGETS, AimForm, AimTarget, DmddLoss, KdReduction
from .torch_model import DmddFeatures, DmddModel

Schedule = Literal["two_phase", "joint"]
StudentOptimizer = Literal["sgd", "adam"]
STUDENT_OPTIMIZERS = get_args(StudentOptimizer)
DEFAULT_LR_STUDENT = {"sgd": 0.4, "adam": 3e-3}  # DeSTSeg's SGD; Adam at the Adps CPU recipe's warm-up lr
SCHEDULES = get_args(Schedule)
AugmentScope = Literal["all", "head"]
AUGMENT_SCOPES = get_args(AugmentScope)
PairInputs = Literal["anomalous", "pairs"]
PAIR_INPUTS = get_args(PairInputs)
StudentInputs = Literal["anomalous", "pairs", "halves"]
STUDENT_INPUTS = get_args(StudentInputs)

PAPER_STEPS = 5000  # DeSTSeg's schedule (docs/dmdd.md §2.2): the length an unbounded fit splits into its phases


def level_cat(first: list[torch.Tensor], second: list[torch.Tensor]) -> list[torch.Tensor]:
    """Two batches' per-level features as one batch, level by level."""
    return [torch.cat(pair) for pair in zip(first, second, strict=True)]


class Dmdd(SyntheticAnomalyKDMixin, AnomalibModule):
    """Dual-Modeling Decouple Distillation.

    Args:
        backbone: timm CNN for the frozen teacher and the student encoder [A: preset A resnet18; B wide_resnet50_2].
        layers: distilled levels; ``None``: the backbone's stages at strides 4/8/16 (resnet18: layer1-3).
        pre_trained: ImageNet teacher (offline: ``anomalib-kd weights seed``).
        decouple_expansion: channel expansion of the 1×1 decoupling head before the split [A; F: "expand"].
        ngm_mask: restrict NGM to normal pixels [A; default off = full-image denoising].
        aim: ``"l1"`` (AIM-1, default) or ``"margin"`` (AIM-2) [A].
        aim_margin: m of AIM-2.
        aim_target: teacher features AIM compares with: ``"anomalous"`` T(I_a) (default) or ``"normal"`` T(I_n) [A].
        lambda_aim: λ_AIM in L_KD = λ_NGM·L_NGM + λ_AIM·L_AIM [A: 1]; 0 removes AIM (ablation).
        lambda_ngm: λ_NGM [A: 1]; 0 removes NGM (ablation).
        decouple: ``False`` replaces the decoupling heads by a plain student whose one feature map serves as both
            F^N and F^A (NGM and AIM then act on the same features), the ablation of the decoupled design.
        kd_reduction: ``"mean"`` (L_KD averaged over the batch) or ``"batch_sum"`` (summed over it, as DeSTSeg's
            code does, so the student's step does not shrink with the batch size) [A; loss.py].
        focal_gamma: γ of the segmentation focal loss [A: 4, DeSTSeg].
        mask_downsample: mask to feature resolution, ``"bilinear"`` (+ >0.5) or ``"max"`` [A].
        seg_channels: width of the segmentation body and head [A: 256].
        aspp: the head's context branch: ``"torchvision"`` (DeepLabV3's ASPP: 1×1 + 3 dilated + pooling branches,
            1×1 fusion, dropout) or ``"destseg"`` (DeSTSeg's: pooling + 3 dilated branches, 3×3 fusion) [A].
        schedule: ``"two_phase"`` (DeSTSeg: student, then segmentation with the student frozen) or ``"joint"`` [A].
        student_phase_fraction: share of all training steps in the student phase (DeSTSeg: 1000 of 5000).
        student_phase_steps: the student phase as a number of steps instead (DeSTSeg: 1000); overrides the
            fraction when set, so the student's training does not shrink with a short schedule.
        lr_student / lr_seg_body / lr_seg_head: SGD learning rates (DeSTSeg: 0.4 / 0.1 / 0.01); ``lr_student=None``
            is 0.4 for SGD and 3e-3 for Adam (``student_optimizer``).
        student_skips: skip connections from the student encoder into its decoder at every distilled level (a UNet;
            DeSTSeg's decoder has none, ``False``). Not the paper's: a CPU-recipe option for small inputs, where the
            deepest encoder map that DeSTSeg decodes from is 4×4.
        student_optimizer: the student's optimiser, ``"sgd"`` (DeSTSeg: momentum and weight decay as below) or
            ``"adam"`` (Adam at ``lr_student``, no weight decay, as the Adps student trains). Not DeSTSeg's: a
            CPU-recipe option for a student whose SGD stalls far from the teacher within a short budget.
        momentum / weight_decay: SGD settings (DeSTSeg: 0.9 / 1e-4).
        score_top_k: image score = mean of the top-k map pixels [A: 100, DeSTSeg].
        sigma: σ of a Gaussian filter on the upsampled map, as ADPS and PatchCore smooth theirs [A: 0 = none, as
            DeSTSeg's map is "obtained directly"]; the image score stays the top-k mean of the unsmoothed map unless
            ``score_map`` says otherwise.
        score_map: the map the image score's top-k mean is taken over: ``"raw"`` (DeSTSeg: the unsmoothed map) or
            ``"smoothed"`` (the σ-smoothed map the pixel metrics see, as ADPS and PatchCore score). Not DeSTSeg's: a
            CPU-recipe option.
        anomaly_source: what fills the synthetic anomalies: ``"perlin"`` (anomalib's grey Perlin fill),
            ``"self"`` (zoomed, turned crops of the training images), ``"procedural"`` (generated textures),
            ``"mixed"`` (one of those three per anomaly), ``"matched"`` (contrast-matched fills, strokes, spots, warps
            and displaced patches that keep the surface's local contrast) or
            ``"folder"`` (``anomaly_source_path``; DeSTSeg pastes DTD textures). ``None``: ``"folder"`` when a path
            is given, else ``"perlin"`` (components/synthesis.py).
        anomaly_source_path: a DTD-layout texture folder for ``anomaly_source="folder"``. Never downloads.
        anomaly_probability: share of images given an anomaly [A: 1.0, DeSTSeg's aug_prob].
        map_fusion: ``"seg"`` (the paper's map) or ``"seg+kd"`` (plus the normality branch's KD map
            1 − cos(T, F^N), each standardised on clean training images; the score is the top-k mean of the fused
            map; components/fusion.py). Not the paper's; a CPU-recipe option.
        kd_pool: the KD map of ``"seg+kd"`` from features averaged over ``kd_pool``×``kd_pool`` neighbourhoods of
            each level, 1 − cos(avg T, avg F^N); 1 (the papers' per-position cosine) or an odd size. Training is
            unchanged. Not the paper's: a CPU-recipe option (components/fusion.py).
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
        student_lr_schedule: ``"constant"`` (DeSTSeg), ``"cosine"`` (the student's lr annealed to 0 over the steps in
            which it trains, the warm-up and the student phase, so its distance to the teacher settles before it is
            frozen; a constant lr leaves it falling as a power of the steps, which no longer budget turns into a
            plateau; docs/experiments/2026-12-05-round15.md) or ``"multistep"`` (×0.2 at 80 % and 90 % of those
            steps; components/student_lr.py). Not DeSTSeg's: a CPU-budget option.
        student_warmup_epochs: epochs at the start of the fit that train the student alone (the student phase's
            NGM + AIM steps), before the two-phase schedule runs over the remaining steps. Not DeSTSeg's (0): a
            CPU-budget option that gives the student more steps than a short schedule's 20 %.
        train_augment: random views of each normal training image before the pair (I_n, I_a) is made: ``"none"``
            (DeSTSeg), ``"flip"``, ``"dihedral"`` or ``"dihedral+zoom"`` (flips, quarter turns, zooms up to 1.25×;
            components/augment.py). Not the
            paper's: a CPU-recipe option for a student that learns its few training images by heart.
        train_augment_scope: which steps see ``train_augment``'s views: ``"all"`` (every step) or ``"head"`` (the
            segmentation phase's steps alone, which train the head on a frozen student: the head sees the views,
            the student and its KD map keep the images as loaded). ``"head"`` needs the two-phase schedule.
            Not the paper's: a CPU-recipe option for a head that learns its few training images by heart.
        seg_inputs: what the segmentation head trains on: ``"anomalous"`` (each pair's I_a and its mask, DeSTSeg's
            head at aug_prob 1.0) or ``"pairs"`` (I_a and also its normal image I_n with an all-zero target, so
            every step shows the head the same content with and without the anomaly; twice the head's images per
            step). Not the paper's: a CPU-recipe option for a head whose peaks on good images rank them
            (docs/experiments/2026-12-06-round23.md).
        student_inputs: what the student's steps (warm-up, student phase, joint) distil: ``"anomalous"`` (each
            pair's I_a against T(I_n), DeSTSeg's at aug_prob 1.0) or ``"pairs"`` (also I_n itself, as one more pair
            with an empty mask, so NGM and AIM both fit F(I_n) to T(I_n): the clean-image term that a batch with
            clean images implies [A, docs/dmdd.md §2.2]; twice the student's images per step), or ``"halves"`` (the
            first half of the step's pairs give their I_a, the second half their I_n with an empty mask: clean
            images at the step's cost and gradient scale, half the anomalies; needs ``schedule="two_phase"``). The
            student otherwise never sees a clean image, while its KD map is read on them
            (docs/experiments/2026-12-06-round23.md, 2026-12-07-round24.md). Not DeSTSeg's: CPU-recipe options.
        probe_images: clean training images kept for the learning curves logged each epoch (1 − cos per branch and
            level; pixel AP of the segmentation, KD and fused maps on fixed synthetic anomalies); 0: none.

    Example:
        >>> from anomalib.engine import Engine
        >>> model = Dmdd(backbone="tf_efficientnet_lite0", pre_processor=Dmdd.configure_pre_processor((128, 128)))
        >>> Engine(max_epochs=8).fit(model, datamodule=MVTecAD(root="./datasets/realphoto", category="brick"))
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        layers: Sequence[str] | None = None,
        pre_trained: bool = True,
        decouple_expansion: int = 2,
        ngm_mask: bool = False,
        aim: AimForm = "l1",
        aim_margin: float = 0.0,
        aim_target: AimTarget = "anomalous",
        lambda_aim: float = 1.0,
        lambda_ngm: float = 1.0,
        decouple: bool = True,
        kd_reduction: KdReduction = "mean",
        focal_gamma: float = 4.0,
        mask_downsample: MaskDownsample = "bilinear",
        seg_channels: int = 256,
        aspp: AsppForm = "torchvision",
        schedule: Schedule = "two_phase",
        student_phase_fraction: float = 0.2,
        student_phase_steps: int | None = None,
        lr_student: float | None = None,
        student_optimizer: StudentOptimizer = "sgd",
        student_lr_schedule: StudentLrSchedule = "constant",
        student_skips: bool = False,
        lr_seg_body: float = 0.1,
        lr_seg_head: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        score_top_k: int = 100,
        sigma: float = 0.0,
        anomaly_source: AnomalySource | None = None,
        anomaly_source_path: str | None = None,
        anomaly_probability: float = 1.0,
        map_fusion: MapFusion = "seg",
        kd_pool: int = 1,
        kd_pool_border: KdPoolBorder = "scaled",
        map_fusion_scale: MapFusionScale = "std",
        map_fusion_calibration: MapFusionCalibration = "train",
        kd_views: KdViews = "none",
        score_map: ScoreMap = "raw",
        student_warmup_epochs: int = 0,
        train_augment: TrainAugment = "none",
        train_augment_scope: AugmentScope = "all",
        seg_inputs: PairInputs = "anomalous",
        student_inputs: StudentInputs = "anomalous",
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
        for name, value, allowed in (
            ("schedule", schedule, SCHEDULES),
            ("aim_target", aim_target, AIM_TARGETS),
            ("mask_downsample", mask_downsample, MASK_DOWNSAMPLE_MODES),
            ("student_optimizer", student_optimizer, STUDENT_OPTIMIZERS),
            ("student_lr_schedule", student_lr_schedule, STUDENT_LR_SCHEDULES),
            ("train_augment_scope", train_augment_scope, AUGMENT_SCOPES),
            ("seg_inputs", seg_inputs, PAIR_INPUTS),
            ("student_inputs", student_inputs, STUDENT_INPUTS),
        ):
            check_choice(name, value, allowed)
        if not 0.0 <= student_phase_fraction <= 1.0:
            raise ValueError(f"student_phase_fraction must be in [0, 1], got {student_phase_fraction}")
        self.model = DmddModel(
            backbone=backbone,
            layers=tuple(layers),
            pre_trained=pre_trained,
            decouple_expansion=decouple_expansion,
            seg_channels=seg_channels,
            score_top_k=score_top_k,
            aspp=aspp,
            decouple=decouple,
            sigma=sigma,
            map_fusion=map_fusion,
            kd_pool=kd_pool,
            kd_pool_border=kd_pool_border,
            map_fusion_scale=map_fusion_scale,
            score_map=score_map,
            kd_views=kd_views,
            student_skips=student_skips,
        )
        if student_warmup_epochs < 0:
            raise ValueError(f"student_warmup_epochs must be ≥ 0, got {student_warmup_epochs}")
        self.student_warmup_epochs = student_warmup_epochs
        self.augment = NormalViews(train_augment)
        if train_augment_scope == "head" and schedule == "joint":
            raise ValueError(
                "train_augment_scope='head' shows the views to the segmentation phase alone, but schedule='joint' has "
                "no such phase. Use schedule='two_phase', or train_augment_scope='all'."
            )
        self.train_augment_scope = train_augment_scope
        if student_inputs == "halves" and schedule == "joint":
            raise ValueError(
                "student_inputs='halves' shows the student clean images in place of half the anomalous ones, but "
                "schedule='joint' trains the head on the same features, which need every anomalous image. Use "
                "schedule='two_phase', or student_inputs='pairs'."
            )
        self.seg_inputs, self.student_inputs = seg_inputs, student_inputs
        check_map_fusion_calibration(map_fusion_calibration, train_augment)
        self.map_fusion_calibration = map_fusion_calibration
        self.probe_images = probe_images
        self.loss = DmddLoss(
            aim, aim_margin, lambda_aim, ngm_mask, focal_gamma, mask_downsample, kd_reduction, lambda_ngm
        )
        self.synthesizer = AnomalySynthesizer(
            anomaly_source_path, probability=anomaly_probability, source=anomaly_source
        )
        self.aim_target = aim_target
        self.schedule = schedule
        self.student_phase_fraction = student_phase_fraction
        if student_phase_steps is not None and student_phase_steps < 0:
            raise ValueError(f"student_phase_steps must be ≥ 0, got {student_phase_steps}")
        self.student_phase_steps = student_phase_steps
        if lr_student is not None and not lr_student > 0:
            raise ValueError(f"lr_student must be > 0, got {lr_student}; leave it None for the optimiser's default")
        self.student_optimizer = student_optimizer
        self.student_lr_schedule = student_lr_schedule
        self.lr_student = DEFAULT_LR_STUDENT[student_optimizer] if lr_student is None else lr_student
        self.lr_seg_body, self.lr_seg_head = lr_seg_body, lr_seg_head
        self.momentum, self.weight_decay = momentum, weight_decay
        self.automatic_optimization = False  # two optimisers, stepped by phase
        self.validate_input_size()

    # ---------------------------------------------------------------------------------------------- schedule
    def total_steps(self) -> int:
        """All training steps of this fit (max_epochs × batches, else max_steps); DeSTSeg's ``PAPER_STEPS`` when the
        trainer is unbounded (``max_epochs=-1`` and no ``max_steps``), so the phase split stays the paper's."""
        trainer = self.trainer
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            return int(trainer.max_epochs * trainer.num_training_batches)
        return max(int(trainer.max_steps), 1) if trainer.max_steps and trainer.max_steps > 0 else PAPER_STEPS

    def current_step(self, batch_idx: int) -> int:
        """Batches trained so far (restored with the epoch on resume; independent of optimiser-step counting)."""
        return self.current_epoch * int(self.trainer.num_training_batches) + batch_idx

    def student_steps(self) -> int:
        """The steps in which the student trains: the warm-up and the student phase (every step when joint)."""
        if self.schedule == "joint":
            return self.total_steps()
        warmup = (
            self.student_warmup_epochs * int(self.trainer.num_training_batches) if self.student_warmup_epochs else 0
        )
        boundary = self.student_phase_steps
        if boundary is None:
            boundary = math.ceil(self.student_phase_fraction * (self.total_steps() - warmup))
        return warmup + boundary

    def phase(self, batch_idx: int) -> str:
        """``"student"``, ``"segmentation"`` or ``"joint"`` for this step (after ``student_warmup_epochs``)."""
        if self.current_epoch < self.student_warmup_epochs:
            return "student"
        if self.schedule == "joint":
            return "joint"
        return "student" if self.current_step(batch_idx) < self.student_steps() else "segmentation"

    def head_trained(self) -> bool:
        """Whether the segmentation network has taken a step by the end of this epoch: not in the warm-up, nor in an
        epoch that ends before the student phase does (the learning curves skip its map until then;
        components/mixin.py)."""
        if self.current_epoch < self.student_warmup_epochs:
            return False
        steps_done = self.current_step(int(self.trainer.num_training_batches))  # this epoch's last step included
        return self.schedule == "joint" or steps_done > self.student_steps()

    def student_lr(self, batch_idx: int) -> float:
        """The student's lr at this step: ``lr_student`` times ``student_lr_schedule``'s factor at this share of the
        student's steps (``"cosine"``: lr · ½(1 + cos(π t / T)); ``"multistep"``: ×0.2 at 80 % and 90 %)."""
        progress = self.current_step(batch_idx) / max(self.student_steps(), 1)
        return self.lr_student * student_lr_factor(self.student_lr_schedule, progress)

    # ---------------------------------------------------------------------------------------------- training
    def normal_views(self, images: torch.Tensor, phase: str) -> torch.Tensor:
        """The step's normal images: ``train_augment``'s views in the phases ``train_augment_scope`` names."""
        if self.train_augment_scope == "all" or phase == "segmentation":
            return self.augment(images)
        return images

    def with_normal_images(
        self, features: DmddFeatures, teacher_normal: list[torch.Tensor], normal: torch.Tensor, mask: torch.Tensor
    ) -> tuple[DmddFeatures, torch.Tensor]:
        """``seg_inputs="pairs"``: the head's features and targets for I_a followed by those of I_n (all-zero mask).

        The student's features of I_n are taken without gradients: the head's loss never trains the student."""
        with torch.no_grad():
            normality, abnormality = self.model.student_features(normal)
        return (
            DmddFeatures(
                level_cat(features.teacher, teacher_normal),
                level_cat(features.normality, normality),
                level_cat(features.abnormality, abnormality),
            ),
            torch.cat([mask, torch.zeros_like(mask)]),
        )

    def training_step(self, batch: Batch, batch_idx: int, *args, **kwargs) -> STEP_OUTPUT:
        """Pairs (I_n, I_a, M) from the same normal image; L_KD in the student phase, focal+L1 in the seg phase."""
        del args, kwargs
        opt_student, opt_seg = self.optimizers()
        self.remember_probe_images(batch.image)
        phase = self.phase(batch_idx)
        normal = self.normal_views(self.checked_images(batch), phase)
        if len(normal) == 1:  # BatchNorm after ASPP's global pooling needs ≥ 2 samples: pair it with a second draw
            normal = normal.repeat(2, 1, 1, 1)
        anomalous, mask = self.synthesize(batch, normal)
        train_student = phase != "segmentation"
        for module in self.model.student_modules():
            module.train(train_student)

        pairs = self.seg_inputs == "pairs" and phase != "student"
        if train_student or pairs:  # T(I_n) for NGM (and AIM with aim_target="normal") or the head's I_n: one pass
            teacher_both = self.model.teacher_features(torch.cat([normal, anomalous]))
            teacher_normal = [t[: len(normal)] for t in teacher_both]
            teacher_anomalous = [t[len(normal) :] for t in teacher_both]
        else:
            teacher_anomalous = self.model.teacher_features(anomalous)
        student_pairs = train_student and self.student_inputs == "pairs"
        clean_from = len(normal) // 2 if train_student and self.student_inputs == "halves" else len(normal)
        student_images = anomalous
        if student_pairs:
            student_images = torch.cat([anomalous, normal])
        elif clean_from < len(normal):  # "halves" in a student-phase step (never joint): I_n in the second half
            student_images = torch.cat([anomalous[:clean_from], normal[clean_from:]])
        with torch.set_grad_enabled(train_student):
            normality, abnormality = self.model.student_features(student_images)

        logs: dict[str, torch.Tensor] = {}
        loss = normal.new_zeros(())
        if train_student:
            target = teacher_anomalous if self.aim_target == "anomalous" else teacher_normal
            kd_mask, kd_normal = mask, teacher_normal
            if student_pairs:  # I_n is one more pair, with an empty mask: NGM and AIM pull F^N(I_n), F^A(I_n) to T(I_n)
                kd_mask = torch.cat([mask, torch.zeros_like(mask)])
                kd_normal, target = level_cat(teacher_normal, teacher_normal), level_cat(target, teacher_normal)
            elif clean_from < len(normal):  # "halves": the clean half's mask is empty and its AIM target T(I_n)
                kd_mask = torch.cat([mask[:clean_from], torch.zeros_like(mask[clean_from:])])
                target = [
                    torch.cat([t[:clean_from], n[clean_from:]]) for t, n in zip(target, teacher_normal, strict=True)
                ]
            kd, parts = self.loss.distillation(kd_normal, target, normality, abnormality, kd_mask)
            loss, logs = loss + kd, {**logs, **parts, "loss_kd": kd.detach()}
        if phase != "student":
            features = DmddFeatures(  # the head's features of I_a (the first half when the student saw the pairs)
                teacher_anomalous,
                [f[: len(anomalous)].detach() for f in normality],
                [f[: len(anomalous)].detach() for f in abnormality],
            )
            if pairs:
                features, mask = self.with_normal_images(features, teacher_normal, normal, mask)
            seg = self.loss.segmentation(self.model.segmentation(features), mask)
            loss, logs = loss + seg, {**logs, "loss_seg": seg.detach()}
        self.ensure_finite(loss, f"lower the {phase}-phase learning rates (lr_student, lr_seg_body, lr_seg_head)")
        optimizers = {"student": [opt_student], "segmentation": [opt_seg], "joint": [opt_student, opt_seg]}[phase]
        if train_student:
            for group in opt_student.param_groups:
                group["lr"] = self.student_lr(batch_idx)
        for opt in optimizers:
            opt.zero_grad()
        self.manual_backward(loss)
        for opt in optimizers:
            opt.step()
        # to the run's logger when it has one (Lightning's default), with the batch size it cannot infer from a Batch
        log = {"on_step": False, "on_epoch": True, "batch_size": len(normal)}
        self.log("train_loss", loss.detach(), prog_bar=True, **log)
        self.log_dict(logs, **log)
        return {"loss": loss.detach()}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """DeSTSeg's SGD: student lr 0.4; segmentation body 0.1 and head 0.01; momentum 0.9, weight decay 1e-4.

        ``student_optimizer="adam"``: the student's optimiser is Adam at ``lr_student`` instead; the head keeps SGD.
        """
        student = [p for module in self.model.student_modules() for p in module.parameters()]
        seg = self.model.segmentation
        sgd = {"momentum": self.momentum, "weight_decay": self.weight_decay}
        if self.student_optimizer == "adam":
            opt_student = torch.optim.Adam(student, lr=self.lr_student)
        else:
            opt_student = torch.optim.SGD(student, lr=self.lr_student, **sgd)
        opt_seg = torch.optim.SGD(
            [
                {"params": seg.body.parameters(), "lr": self.lr_seg_body},
                {"params": seg.head.parameters(), "lr": self.lr_seg_head},
            ],
            **sgd,
        )
        return [opt_student, opt_seg]
