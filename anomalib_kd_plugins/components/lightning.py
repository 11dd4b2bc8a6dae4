"""Lightning behaviour shared by the synthetic-anomaly KD models (a mixin, so each model stays a *direct*
``AnomalibModule`` subclass, which ``anomalib.models.get_model``/``list_models`` require)."""

from __future__ import annotations

from typing import Any

import torch
from anomalib import LearningType
from anomalib.data import Batch
from anomalib.metrics import Evaluator
from lightning.pytorch.utilities.types import STEP_OUTPUT

from .evaluator import default_evaluator
from .synthesis import AnomalySynthesizer, find_normalize


class SyntheticAnomalyKDMixin:
    """setup/validation/trainer arguments/evaluator for one-class models trained on synthetic anomalies.

    The host class sets ``self.model`` (eval mode returns ``InferenceBatch``), ``self.synthesizer`` and, optionally,
    implements ``check_input_size(height, width)`` on its torch model.
    """

    model: torch.nn.Module
    synthesizer: AnomalySynthesizer

    def validate_input_size(self) -> None:
        """Fail before any data is read when the pre-processor's image size does not fit the model."""
        size = getattr(self, "input_size", None)
        check = getattr(self.model, "check_input_size", None)
        if size is not None and check is not None:
            check(*size)

    def setup(self, stage: str | None = None) -> None:
        """Validate the image size and hand the pre-processor's normalisation to the synthesis."""
        del stage
        self.validate_input_size()
        self.synthesizer.set_normalization(find_normalize(getattr(self.pre_processor, "transform", None)))

    def synthesize(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (images with synthetic anomalies, their masks); the source images are ``batch.image``."""
        if not torch.isfinite(batch.image).all():
            raise ValueError(
                "A training batch contains NaN or Inf pixels. Check the images (and any custom transform) in: "
                f"{list(getattr(batch, 'image_path', []) or [])}"
            )
        return self.synthesizer(batch.image)

    def ensure_finite(self, loss: torch.Tensor, hint: str) -> None:
        """Stop training with a clear error instead of silently learning NaN maps."""
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{type(self).__name__} training loss is not finite. Check the inputs for NaN/Inf pixels and {hint}."
            )

    def validation_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Predict maps and scores for the validation batch."""
        del args, kwargs
        return batch.update(**self.model(batch.image)._asdict())

    @staticmethod
    def configure_evaluator() -> Evaluator:
        """anomalib's image/pixel AUROC and F1 plus the papers' pixel AP and PRO (AUPRO, FPR ≤ 0.3)."""
        return default_evaluator()

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        """No gradient clipping, no sanity validation; max_epochs stays the user's."""
        return {"gradient_clip_val": 0, "num_sanity_val_steps": 0}

    @property
    def learning_type(self) -> LearningType:
        """One-class: trained on normal images only (anomalies are synthesised)."""
        return LearningType.ONE_CLASS
