"""ADPS: a short real-photo CPU run must localise held-out real defects well above chance (one file per model,
so the two quality fits run on both pytest-xdist workers at once).

Short real-photo CPU runs must localise held-out real defects well above chance (papers' pixel AUROC metric).

Budget: the `cpu` recipes (ImageNet tf_efficientnet_lite0 teacher, 128², 36-80 epochs with the student warm-up) on
the brick category: 2-3 minutes each. ``benchmarks/broken_models.py`` runs the same recipe with the WMB inverted or the
loss sign flipped: a flipped loss never localises (pixel AUROC ≈ 0.35), and an inverted WMB moves the PSM input's
energy off the defects (AUROC ≈ 0.4), which the second ADPS assertion catches. Pixel AUROC alone cannot: the PSM
learns to segment from W·T about as well as from (1 − W)·T (the paper's "W/O S" ablation is the same effect).
Likewise for DMDD: with the NGM or the AIM sign flipped the final map is as good as a healthy model's (pixel AUROC
0.967 / 0.960 vs 0.964), but that branch's distance 1 − cos(T, F) ranks the defects *last* (AUROC 0.08 vs 0.92),
which the DMDD branch assertion catches (see ``anomalib_kd_plugins.bench.diagnostics``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import train_cpu_recipe

from anomalib_kd_plugins.bench.diagnostics import wmb_energy_auroc

pytestmark = [pytest.mark.slow, pytest.mark.quality]


def test_adps_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, engine = train_cpu_recipe("Adps", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
    # the Weight Mask Block's output concentrates on the (never seen) real defects
    assert wmb_energy_auroc(engine) >= 0.75
