"""Short real-photo CPU runs must localise held-out real defects well above chance (papers' pixel AUROC metric).

Budget: the `*_cpu` presets (pretrained ImageNet tf_efficientnet_lite0 teacher, 128², 8-10 epochs) on the brick
category: about 2 minutes each. ``benchmarks/broken_models.py`` runs the same recipe with the WMB inverted or the
loss sign flipped: a flipped loss never localises (pixel AUROC ≈ 0.45), and an inverted WMB moves the PSM input's
energy off the defects (AUROC ≈ 0.2), which the second ADPS assertion catches. Pixel AUROC alone cannot: the PSM
learns to segment from W·T about as well as from (1 − W)·T (the paper's "W/O S" ablation is the same effect).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.quality]


def train_and_test(preset_name: str, root: Path, category: str, workdir: Path) -> tuple[dict[str, float], Any]:
    """Fit a preset with a fixed seed, exactly as the demo does; return the test metrics and the engine."""
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.presets import fit_and_test

    seed_everything(0, workers=True)
    return fit_and_test(preset_name, root, category, workdir, visualizer=False, enable_progress_bar=False)


def wmb_energy_auroc(engine: Any) -> float:
    """Pixel AUROC of the PSM input's energy Σ_i ‖C_i‖ / mean‖C_i‖ against the real defect masks.

    Eq. (2) makes 1 − W_i a coarse anomaly mask, so C_i = (1 − W_i)·T_i must carry its energy on the defects. The
    PSM's input is captured with a hook, so this sees whatever the forward pass really computes.
    """
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc

    model = engine.model.eval()
    captured: list[list[torch.Tensor]] = []
    hook = model.model.psm.register_forward_pre_hook(lambda _, args: captured.append(list(args[0])))
    energies, masks = [], []
    try:
        with torch.no_grad():
            for batch in engine.trainer.datamodule.test_dataloader():
                images = model.pre_processor.transform(batch.image)
                model.model(images)
                size = images.shape[-2:]
                energy = sum(
                    F.interpolate(c.norm(dim=1, keepdim=True) / c.norm(dim=1).mean(), size=size, mode="bilinear")
                    for c in captured[-1]
                )
                energies.append(energy.flatten())
                masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=size).flatten())
    finally:
        hook.remove()
    return binary_auroc(torch.cat(energies), torch.cat(masks).int()).item()


def test_adps_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, engine = train_and_test("adps_cpu", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
    # the Weight Mask Block's output concentrates on the (never seen) real defects
    assert wmb_energy_auroc(engine) >= 0.75


def test_dmdd_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, _ = train_and_test("dmdd_cpu", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
