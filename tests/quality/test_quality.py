"""Short real-photo CPU runs must localise held-out real defects well above chance (papers' pixel AUROC metric).

Budget: the `cpu` recipes (ImageNet tf_efficientnet_lite0 teacher, 128², 28-40 epochs with the student warm-up) on
the brick category: 2-3 minutes each. ``benchmarks/broken_models.py`` runs the same recipe with the WMB inverted or the
loss sign flipped: a flipped loss never localises (pixel AUROC ≈ 0.45), and an inverted WMB moves the PSM input's
energy off the defects (AUROC ≈ 0.2), which the second ADPS assertion catches. Pixel AUROC alone cannot: the PSM
learns to segment from W·T about as well as from (1 − W)·T (the paper's "W/O S" ablation is the same effect).
Likewise for DMDD: with the NGM or the AIM sign flipped the final map is as good as a healthy model's (pixel AUROC
0.967 / 0.960 vs 0.964), but that branch's distance 1 − cos(T, F) ranks the defects *last* (AUROC 0.08 vs 0.92),
which the DMDD branch assertion catches (see ``anomalib_kd_plugins.bench.diagnostics``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from anomalib_kd_plugins.bench.diagnostics import dmdd_branch_aurocs, wmb_energy_auroc

pytestmark = [pytest.mark.slow, pytest.mark.quality]


def train_and_test(model: str, root: Path, category: str, workdir: Path) -> tuple[dict[str, float], Any]:
    """Fit a CPU recipe with a fixed seed, exactly as the demo does; return the test metrics and the engine."""
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.bench.engine import fit_and_test, mvtec_datamodule
    from anomalib_kd_plugins.recipes import recipe

    spec = recipe(model, "cpu")
    seed_everything(0, workers=True)
    metrics, engine, _ = fit_and_test(
        spec,
        mvtec_datamodule(spec, root, category),
        workdir,
        model_overrides={"visualizer": False},
        trainer_overrides={"enable_progress_bar": False},
    )
    return metrics, engine


def test_adps_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, engine = train_and_test("Adps", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
    # the Weight Mask Block's output concentrates on the (never seen) real defects
    assert wmb_energy_auroc(engine) >= 0.75


def test_dmdd_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, engine = train_and_test("Dmdd", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
    # both decoupled branches depart from the teacher on the (never seen) real defects: NGM and AIM did their job
    branches = dmdd_branch_aurocs(engine)
    assert branches["normality"] >= 0.75 and branches["abnormality"] >= 0.75, branches
