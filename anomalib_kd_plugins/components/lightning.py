"""Lightning behaviour shared by the synthetic-anomaly KD models (a mixin, so each model stays a *direct*
``AnomalibModule`` subclass, which ``anomalib.models.get_model``/``list_models`` require)."""

from __future__ import annotations

from typing import Any

import torch
from anomalib import LearningType
from anomalib.data import Batch
from anomalib.pre_processing import PreProcessor
from lightning.pytorch.utilities.types import STEP_OUTPUT

from .backbone import backbone_pre_processor
from .checks import (
    CHECKPOINT_MODEL_KEY,
    STALE_KEYS,
    check_checkpoint,
    check_dataset,
    check_files,
    check_images,
    check_mvtec_layout,
    dataloader_paths,
    datamodule_splits,
    tracing,
)
from .synthesis import AnomalySynthesizer


class SyntheticAnomalyKDMixin:
    """setup/validation/trainer arguments/evaluator for one-class models trained on synthetic anomalies.

    The host class sets ``self.model`` (eval mode returns ``InferenceBatch``), ``self.synthesizer`` and, optionally,
    implements ``check_input_size(height, width)`` on its torch model.
    """

    model: torch.nn.Module
    synthesizer: AnomalySynthesizer

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
        """Before anomalib's dataset builder runs: name MVTec-layout test images without masks (it fails in pandas)."""
        check_mvtec_layout(getattr(getattr(self, "_trainer", None), "datamodule", None))

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

        Also drops what older checkpoints saved and this version no longer holds (pruned stages, the Gaussian kernel).

        They describe how to score, not what was learned: a checkpoint trained with ``PaperEvaluator`` must load into
        a model rebuilt with anomalib's default evaluator (``load_from_checkpoint``, ``anomalib export``) and back.
        """
        check_checkpoint(checkpoint, self)
        state = checkpoint.get("state_dict")
        if state is not None:
            # older checkpoints hold weights this version no longer has (checks.STALE_KEYS): pruned extractor
            # stages (components.backbone.prune_unused_stages), which fed nothing, and the derived Gaussian kernel
            current = self.state_dict()
            for key in [k for k in state if any(s in k for s in STALE_KEYS) and k not in current]:
                del state[key]
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

    def synthesize(self, batch: Batch, images: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (images with synthetic anomalies, their masks); the sources are ``images`` or ``batch.image``."""
        images = batch.image if images is None else images
        check_images(images, getattr(batch, "image_path", None))
        return self.synthesizer(images)

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
        """anomalib's ``INT8_PTQ`` (NNCF, calibrated on the validation images), with two changes for these models.

        The same steps as anomalib's ``ExportMixin._post_training_quantization_ov``, plus (measured on the brick
        ``adps_cpu`` checkpoint, FP32 OpenVINO pixel AP 0.438 / PRO 0.766 / image AUROC 0.896):

        * an ignored scope, the 1-D Gaussian passes (single-channel convolutions found by
          :func:`anomalib_kd_plugins.deploy.smoothing_convolutions`). Quantized, they turned every Adps map into
          zeros (pixel AP 0.018, image AUROC 0.5). They cost < 1 ms in float;
        * NNCF's full bias correction instead of the fast one: pixel AP 0.354 → 0.449 (fast: −0.084 vs FP32; full:
          +0.011). ADPS scores 1 − cos(T, S), a small difference of two quantized feature maps, so the bias that
          quantization adds to each conv's output matters more than in a classifier. It slows the export, not the
          model.
        """
        import nncf

        from anomalib_kd_plugins.deploy import smoothing_convolutions

        if datamodule is None:
            raise ValueError(
                "INT8 post-training quantization calibrates on images: pass a datamodule (`anomalib export ... "
                "--compression_type INT8_PTQ --data MVTecAD --data.root ... --data.category ...`)."
            )
        datamodule.setup("fit")
        if model.input(0).partial_shape[0].is_static:
            datamodule.train_batch_size = model.input(0).shape[0]
        ignored = smoothing_convolutions(model)
        return nncf.quantize(
            model,
            nncf.Dataset(datamodule.val_dataloader(), lambda batch: batch["image"]),
            ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None,
            fast_bias_correction=False,
        )

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        """No gradient clipping, no sanity validation; max_epochs stays the user's."""
        return {"gradient_clip_val": 0, "num_sanity_val_steps": 0}

    @property
    def learning_type(self) -> LearningType:
        """One-class: trained on normal images only (anomalies are synthesised)."""
        return LearningType.ONE_CLASS
