"""DMDD: a short real-photo CPU run must localise held-out real defects well above chance, and both decoupled
branches must depart from the teacher on them (the broken-model cases are in test_quality_adps.py's docstring)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import train_cpu_recipe

from anomalib_kd_plugins.bench.diagnostics import dmdd_branch_aurocs

pytestmark = [pytest.mark.slow, pytest.mark.quality]


def test_dmdd_cpu_preset_localises_real_defects(seeded_weights: Path, demo_root: Path, tmp_path: Path) -> None:
    metrics, engine = train_cpu_recipe("Dmdd", demo_root, "brick", tmp_path)
    assert metrics["pixel_AUROC"] >= 0.90, metrics
    assert metrics["image_AUROC"] >= 0.75, metrics
    # both decoupled branches depart from the teacher on the (never seen) real defects: NGM and AIM did their job
    branches = dmdd_branch_aurocs(engine)
    assert branches["normality"] >= 0.75 and branches["abnormality"] >= 0.75, branches
