"""Part-level checks of a trained model on real test masks: does each part do the job its equation gives it?

Pixel AUROC of the final map cannot tell a healthy model from one with a part inverted: the segmentation head
learns from the synthetic masks whatever its inputs are (the ADPS paper's "W/O S" ablation is that effect). These
functions score an intermediate map instead, against the real defect masks of the test split:

* :func:`wmb_energy_auroc` (ADPS Eq. 2): the PSM input C_i = (1 − W_i)·T_i must carry its energy on the defects.
* :func:`dmdd_branch_aurocs` (DMDD NGM/AIM): 1 − cos(T, F^N) and 1 − cos(T, F^A) must both be high on the defects;
  NGM makes F^N mimic the *normal* teacher, so it departs from T where the image is anomalous, and AIM regresses
  1 − cos(T, F^A) onto the anomaly mask.

``tests/quality`` and ``benchmarks/broken_models.py`` both use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def _pixel_auroc(engine: Any, part_map: Callable[[Any, torch.Tensor], torch.Tensor]) -> float:
    """Pixel AUROC against the test masks of ``part_map(model, images)`` → (B,1,h,w), resized to the input size."""
    from torchmetrics.functional.classification import binary_auroc

    model = engine.model.eval()
    scores, masks = [], []
    with torch.no_grad():
        for batch in engine.trainer.datamodule.test_dataloader():
            images = model.pre_processor.transform(batch.image)
            size = images.shape[-2:]
            scores.append(F.interpolate(part_map(model.model, images), size=size, mode="bilinear").flatten())
            masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=size).flatten())
    return binary_auroc(torch.cat(scores), torch.cat(masks).int()).item()


def _level_sum(maps: list[torch.Tensor]) -> torch.Tensor:
    """Sum per-level (B,1,h_l,w_l) maps at the first level's size."""
    size = maps[0].shape[-2:]
    return sum(F.interpolate(m, size=size, mode="bilinear") for m in maps)


def wmb_energy_auroc(engine: Any) -> float:
    """Pixel AUROC of the Adps PSM input's energy Σ_i ‖C_i‖ / mean‖C_i‖ against the real defect masks.

    The PSM's input is captured with a forward pre-hook, so this scores whatever the forward pass really computes.
    """
    captured: list[list[torch.Tensor]] = []

    def energy(torch_model: Any, images: torch.Tensor) -> torch.Tensor:
        torch_model(images)
        return _level_sum([c.norm(dim=1, keepdim=True) / c.norm(dim=1).mean() for c in captured[-1]])

    hook = engine.model.model.psm.register_forward_pre_hook(lambda _, args: captured.append(list(args[0])))
    try:
        return _pixel_auroc(engine, energy)
    finally:
        hook.remove()


def dmdd_branch_aurocs(engine: Any) -> dict[str, float]:
    """Pixel AUROC of Σ_l (1 − cos(T_l, F^N_l)) and of Σ_l (1 − cos(T_l, F^A_l)) on the real test images."""
    from anomalib_kd_plugins.models.dmdd.loss import cosine_distance

    def branch_map(branch: str) -> Callable[[Any, torch.Tensor], torch.Tensor]:
        def distance(torch_model: Any, images: torch.Tensor) -> torch.Tensor:
            features = torch_model.features(images)
            return _level_sum(
                [cosine_distance(t, f) for t, f in zip(features.teacher, getattr(features, branch), strict=True)]
            )

        return distance

    return {name: _pixel_auroc(engine, branch_map(name)) for name in ("normality", "abnormality")}
