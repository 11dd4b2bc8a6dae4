"""Lightning behaviour shared by the synthetic-anomaly KD models (a mixin, so each model stays a *direct*
``AnomalibModule`` subclass, which ``anomalib.models.get_model``/``list_models`` require)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from anomalib import LearningType
from anomalib.data import Batch
from anomalib.pre_processing import PreProcessor
from lightning.pytorch.utilities.types import STEP_OUTPUT

from .backbone import backbone_pre_processor, default_layers
from .checkpoints import CHECKPOINT_MODEL_KEY, check_checkpoint
from .fusion import MapFusionCalibration
from .inputs import (
    check_dataset,
    check_files,
    check_images,
    check_mvtec_layout,
    dataloader_paths,
    datamodule_splits,
    tracing,
)
from .paths import check_ascii_data_paths, check_checkpoint_restores
from .synthesis import AnomalySynthesizer

PROBE_SEED = 20261201  # the fixed synthetic probe set is drawn from its own stream, never from training's


def ordered_images(
    loader: Any, transform: Callable[[torch.Tensor], torch.Tensor], device: torch.device | str = "cpu", limit: int = 256
) -> Iterator[torch.Tensor]:
    """Up to ``limit`` images of a training loader's dataset in dataset order, batches of 8, through ``transform``.

    What the map fusion is calibrated on (``training_images``, and ``benchmarks/retest.py`` re-testing a checkpoint):
    the same images in the same order, so ``map_fusion_calibration="flips"`` gives each image the same view.
    """
    from torch.utils.data import DataLoader

    ordered = DataLoader(loader.dataset, batch_size=8, shuffle=False, num_workers=0, collate_fn=loader.collate_fn)
    seen = 0
    for batch in ordered:
        yield transform(batch.image[: limit - seen].to(device))
        seen += len(batch.image)
        if seen >= limit:
            return


class SyntheticAnomalyKDMixin:
    """setup/validation/trainer arguments/evaluator for one-class models trained on synthetic anomalies.

    The host class sets ``self.model`` (eval mode returns ``InferenceBatch``; ``maps(images)`` returns the
    segmentation and KD maps, ``student_distances(images)`` the per-level 1 − cos, ``maps_and_distances(images)``
    all three from one pass), ``self.synthesizer`` and
    ``self.probe_images``, and may implement ``check_input_size(height, width)`` on its torch model.

    Learning curves (logged each training epoch to the run's logger, so TensorBoard and CSVLogger show them):

    * ``student_distance/KEY``: mean 1 − cos(T, S) on clean training images per level (``level1`` ...; Dmdd per
      branch, ``normality_level1`` ...), in eval mode: is the student converging on normal images?
    * ``probe/pixel_AP_seg``, ``probe/pixel_AP_kd``, ``probe/pixel_AP_fused``: pixel AP of the segmentation map, the
      KD map and the ``"seg+kd"`` map on a fixed set of synthetic anomalies (training images, anomalies drawn once
      from a separate seed, never trained on): what the head and the distillation learned about anomalies. The
      head's two keys start at the first epoch in which the head trained (``head_trained``): before it, its map is
      an untrained network's, and its pass would be a large part of a student-only epoch's probe.
    """

    model: torch.nn.Module
    synthesizer: AnomalySynthesizer
    probe_images: int
    map_fusion_calibration: MapFusionCalibration = "train"  # the images the fusion is measured on (fusion.py)
    _probe_clean: torch.Tensor | None = None
    _probe_set: tuple[torch.Tensor, torch.Tensor] | None = None
    _probe_teacher: tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]] | None = None

    # ------------------------------------------------------------------------------ learning curves, map fusion
    def remember_probe_images(self, images: torch.Tensor) -> None:
        """Keep the first ``probe_images`` clean training images of the fit (no extra data loading, no RNG)."""
        have = 0 if self._probe_clean is None else len(self._probe_clean)
        if have >= self.probe_images:
            return
        take = images[: self.probe_images - have].detach().clone()
        self._probe_clean = take if self._probe_clean is None else torch.cat([self._probe_clean, take])

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode, no grad and a private RNG stream inside; every module's mode restored after (Dmdd's phases).

        The weights keep their training layout: ``InferenceLayoutMixin.train`` would move them to channels_last and
        back, which leaves some (1×1) kernels with channels_last strides, and later training steps would round
        differently (a seeded fit would no longer give the same figures with and without the curves).
        """
        modes = {m: m.training for m in self.model.modules()}
        torch.nn.Module.train(self.model, False)  # flags only, not the mixin's layout switch
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                yield
        finally:
            for module, mode in modes.items():
                module.training = mode

    def on_train_epoch_end(self) -> None:
        """Log the learning curves (class docstring) once per epoch, when the run has a logger to read them."""
        if not self.probe_images or self._probe_clean is None or not self.trainer.loggers:
            return
        from torchmetrics.functional.classification import binary_average_precision

        from anomalib_kd_plugins.components.fusion import FusedMap

        clean = self._probe_clean
        with self.evaluating():
            if self._probe_set is None:  # drawn once, from its own seed
                torch.manual_seed(PROBE_SEED)
                self._probe_set = self.synthesizer(clean, probability=1.0)
            images, masks = self._probe_set
            # the frozen teacher's features of the probe images, again only when the clean images grew (a training
            # set smaller than ``probe_images`` adds to them in later epochs)
            if self._probe_teacher is None or self._probe_teacher[0] is not clean:
                self._probe_teacher = (clean, self.model.teacher_features(clean), self.model.teacher_features(images))
            _, clean_teacher, probe_teacher = self._probe_teacher
            head = self.head_trained()  # before its first step the head is an untrained network: its map is skipped
            clean_seg, clean_kd, distances = self.model.maps_and_distances(clean, clean_teacher, seg=head)  # one pass
            # single-view maps, as of the clean images: the curves follow what training distils (components/views.py)
            seg, kd = self.model.maps(images, teacher=probe_teacher, seg=head, views=False)
            if seg is not None and kd is not None:
                fusion = FusedMap("seg+kd")
                fusion.calibrate(clean_seg, clean_kd)
                fused = fusion(seg, kd)
        logs = {f"student_distance/{k}": v for k, v in distances.items()}
        target = masks.flatten().long()
        for name, part in (("seg", seg), ("kd", kd)):
            if part is not None:
                logs[f"probe/pixel_AP_{name}"] = binary_average_precision(part.flatten(), target)
        if seg is not None and kd is not None:
            logs["probe/pixel_AP_fused"] = binary_average_precision(fused.flatten(), target)
        self.log_dict(logs, on_step=False, on_epoch=True, batch_size=len(clean))

    def head_trained(self) -> bool:
        """Whether the head (the map's network on top of the features) has taken a step by the end of this epoch;
        the host narrows it where a schedule trains the student alone first."""
        return True

    def training_images(self, limit: int = 256) -> Iterator[torch.Tensor]:
        """The fit's training images in dataset order, pre-processed as training batches are (draws no RNG)."""
        loader = self.trainer.train_dataloader
        if getattr(loader, "dataset", None) is None:
            return
        transform = getattr(self.pre_processor, "transform", None) or (lambda x: x)
        yield from ordered_images(loader, transform, self.device, limit)

    def calibrate_map_fusion(self, batches: Iterable[torch.Tensor] | None = None) -> None:
        """Measure the ``"seg+kd"`` standardisation on clean training images with the current weights (fusion.py).

        Done whatever ``map_fusion`` is, so that a checkpoint can be re-scored either way without refitting.
        ``batches``: pre-processed training images (default: the fit's, ``training_images``), e.g. to re-measure the
        statistics of a checkpoint re-scored with another ``kd_pool``. ``map_fusion_calibration`` ``"flips"`` /
        ``"views"``: each image is first mirrored or turned (``calibration_views``).
        """
        from .fusion import calibration_views

        fusion = self.model.anomaly_map_generator.fusion
        segs, kds = [], []
        seen = 0
        with self.evaluating():
            for images in self.training_images() if batches is None else batches:
                if self.map_fusion_calibration != "train":
                    turns = self.map_fusion_calibration == "views"
                    images, seen = calibration_views(images, seen, turns), seen + len(images)
                seg, kd = self.model.maps(images)
                if seg is None or kd is None:
                    return  # one of the two maps does not exist for this model (ablations): nothing to fuse
                segs.append(seg)
                kds.append(kd)
        if segs:
            fusion.calibrate(torch.cat(segs), torch.cat(kds))

    def on_validation_start(self) -> None:
        """During a fit, calibrate the map fusion before validation sets thresholds and normalisation."""
        from lightning.pytorch.trainer.states import TrainerFn

        if self.trainer.state.fn == TrainerFn.FITTING:
            self.calibrate_map_fusion()
        super().on_validation_start()

    @classmethod
    def resolve_defaults(
        cls, backbone: str, layers: Sequence[str] | None, pre_processor: PreProcessor | bool
    ) -> tuple[Sequence[str], PreProcessor | bool]:
        """The layers and pre-processor a model is built with: ``layers=None`` is the backbone's stride-4/8/16 stages,
        ``pre_processor=True`` anomalib's default with this backbone's normalisation (not always ImageNet's).

        Called before ``AnomalibModule.__init__``, so the checkpoint's hyper-parameters hold the resolved layers.
        """
        if pre_processor is True:
            pre_processor = cls.configure_pre_processor(backbone=backbone)
        return (layers if layers is not None else default_layers(backbone)), pre_processor

    @classmethod
    def configure_pre_processor(
        cls, image_size: tuple[int, int] | None = None, backbone: str | None = None
    ) -> PreProcessor:
        """Resize + Normalize with ``backbone``'s own mean/std (timm's pretrained config; ImageNet's when ``None``).

        The models resolve ``pre_processor=True`` with their backbone, so ``anomalib train --model Adps
        --model.backbone tf_efficientnet_lite0`` normalises as lite0's weights expect (0.5/0.5), and the papers'
        ResNet teachers keep ImageNet's statistics.
        """
        return backbone_pre_processor(image_size, backbone)

    def validate_input_size(self) -> None:
        """Fail before any data is read when the pre-processor's image size does not fit the model."""
        size = getattr(self, "input_size", None)
        check = getattr(self.model, "check_input_size", None)
        if size is not None and check is not None:
            check(*size)

    def prepare_data(self) -> None:
        """Before anomalib's dataset builder runs: name non-ASCII data paths (anomalib refuses them) and MVTec-layout
        test images without masks (it fails in pandas)."""
        datamodule = getattr(getattr(self, "_trainer", None), "datamodule", None)
        check_ascii_data_paths(datamodule)
        check_mvtec_layout(datamodule)

    def on_predict_start(self) -> None:
        """Check every predict input before the first batch, as training checks its data: nothing is written yet."""
        loaders = self.trainer.predict_dataloaders
        for loader in loaders if isinstance(loaders, list | tuple) else [loaders]:
            paths = dataloader_paths(loader)
            if paths:
                check_files(paths, "predict", nothing_done="predicted or written")
        super().on_predict_start()

    def setup(self, stage: str | None = None) -> None:
        """Validate the image size and the stage's data, and hand the pre-processor's normalisation to the synthesis."""
        self.validate_input_size()
        trainer = getattr(self, "_trainer", None)
        if trainer is not None:  # Lightning restores ckpt_path after setup: a damaged file is named, not a traceback
            check_checkpoint_restores(trainer)
        datamodule = getattr(trainer, "datamodule", None)
        for split, dataset in datamodule_splits(datamodule, stage):
            check_dataset(dataset, split)
        from anomalib.data.transforms.utils import extract_transforms_by_type
        from torchvision.transforms import v2

        found = extract_transforms_by_type(getattr(self.pre_processor, "transform", None), v2.Normalize)
        self.synthesizer.set_normalization(found[0] if found else None)
        # DDP: some trainable parameters get no gradient in a step, which DDP's default rejects: Dmdd's two phases each
        # leave one network idle, and a student built from a timm backbone whose unused stages cannot be pruned would
        # carry idle blocks. An explicit choice (ddp_find_unused_parameters_false) wins.
        ddp_kwargs = getattr(getattr(trainer, "strategy", None), "_ddp_kwargs", None)
        if isinstance(ddp_kwargs, dict):
            ddp_kwargs.setdefault("find_unused_parameters", True)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Match the evaluator's metric buffers (AUPRO's ``fpr_limit``) to this instance's evaluator.

        They describe how to score, not what was learned: a checkpoint trained with ``PaperEvaluator`` must load into
        a model rebuilt with anomalib's default evaluator (``load_from_checkpoint``, ``anomalib export``) and back.
        """
        check_checkpoint(checkpoint, self)
        state = checkpoint.get("state_dict")
        if state is not None:
            current = self.state_dict()
            own = {k: v for k, v in current.items() if k.startswith("evaluator.")}
            for key in [k for k in state if k.startswith("evaluator.") and k not in own]:
                del state[key]
            for key, value in own.items():
                state.setdefault(key, value)
        super().on_load_checkpoint(checkpoint)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record which plugin model wrote the checkpoint, so loading it into another one says so in one sentence."""
        checkpoint[CHECKPOINT_MODEL_KEY] = type(self).__name__
        super().on_save_checkpoint(checkpoint)

    def forward(self, batch: torch.Tensor, *args, **kwargs) -> Any:
        """anomalib's forward (pre-processor → model → post-processor), refusing non-RGB or NaN/Inf input first.

        The checks stay out of exported graphs (torch.export/ONNX/OpenVINO), whose inputs the caller controls.
        """
        if not tracing():
            check_images(batch)
        return super().forward(batch, *args, **kwargs)

    @staticmethod
    def checked_images(batch: Batch, images: torch.Tensor | None = None) -> torch.Tensor:
        """``images`` (default ``batch.image``) after the RGB / finite-pixel checks, naming the batch's files."""
        images = batch.image if images is None else images
        check_images(images, getattr(batch, "image_path", None))
        return images

    def synthesize(self, batch: Batch, images: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (images with synthetic anomalies, their masks) from ``images`` or, checked first, ``batch.image``.

        ``images`` are the training step's, already through ``checked_images``: they are not checked a second time.
        """
        return self.synthesizer(self.checked_images(batch) if images is None else images)

    def ensure_finite(self, loss: torch.Tensor, hint: str) -> None:
        """Stop training with a clear error instead of silently learning NaN maps."""
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{type(self).__name__} training loss is not finite. Check the inputs for NaN/Inf pixels and {hint}."
            )

    def validation_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Predict maps and scores for the validation batch."""
        del args, kwargs
        check_images(batch.image, getattr(batch, "image_path", None))
        return batch.update(**self.model(batch.image)._asdict())

    def test_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Test like validation (with its input checks); anomalib's default calls the model unchecked."""
        del args, kwargs
        return self.validation_step(batch)

    def predict_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Predict like validation (with its input checks); anomalib's default calls the model unchecked."""
        del args, kwargs
        return self.validation_step(batch)

    @staticmethod
    def _post_training_quantization_ov(model: Any, datamodule: Any = None) -> Any:
        """anomalib's ``INT8_PTQ`` hook, with the two changes of :mod:`.quantize` (docs/export.md, "INT8")."""
        from .quantize import quantize_int8

        return quantize_int8(model, datamodule)

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        """No gradient clipping, no sanity validation; max_epochs stays the user's."""
        return {"gradient_clip_val": 0, "num_sanity_val_steps": 0}

    @property
    def learning_type(self) -> LearningType:
        """One-class: trained on normal images only (anomalies are synthesised)."""
        return LearningType.ONE_CLASS
