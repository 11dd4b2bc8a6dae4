"""Show that the quality gate catches broken models: the CPU recipes with a part inverted or a loss sign flipped.

    python benchmarks/broken_models.py [--category brick] [--variants ok wmb_inverted loss_flipped dmdd_ok ...]

Adps variants train ``adps_cpu`` exactly as ``tests/quality`` does; a broken one must fail one of that test's gates:
pixel AUROC ≥ 0.90, or WMB-output energy AUROC on the real defects ≥ 0.75. Dmdd variants train ``dmdd_cpu`` with
the NGM or AIM term's sign flipped (``dmdd_ngm_flipped``, ``dmdd_aim_flipped``); the Dmdd gate adds, to pixel
AUROC ≥ 0.90 and image AUROC ≥ 0.75, a check on each decoupled branch: the pixel AUROC of Σ_l 1 − cos(T_l, F_l) on
the real defects must be ≥ 0.75 (``bench.diagnostics.dmdd_branch_aurocs``). Measured on brick, seed 0
(docs/experiments/2026-12-04-round11.md for Adps):

=================  ===========  ===========  ================
variant            pixel AUROC  image AUROC  WMB energy AUROC
=================  ===========  ===========  ================
ok                 0.973        0.962        0.955
wmb_inverted       0.978        0.986        **0.382**
loss_flipped       **0.352**    0.188        0.651
=================  ===========  ===========  ================

=================  ===========  ===========  =============  ===============
variant            pixel AUROC  image AUROC  normality      abnormality
=================  ===========  ===========  =============  ===============
dmdd_ok            0.964        0.986        0.923          0.925
dmdd_ngm_flipped   0.967        0.983        **0.078**      0.923
dmdd_aim_flipped   0.960        0.969        0.925          **0.078**
=================  ===========  ===========  =============  ===============

Except for the flipped Adps loss, the final map alone cannot tell a broken model from a healthy one (the
segmentation head learns from the synthetic masks whatever the student does); the broken part's own measure, the
WMB's energy or the flipped branch's distance, ranks the real defects low.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="brick")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["ok", "wmb_inverted", "loss_flipped", "dmdd_ok", "dmdd_ngm_flipped", "dmdd_aim_flipped"],
    )
    args = parser.parse_args()

    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.bench.diagnostics import dmdd_branch_aurocs, wmb_energy_auroc
    from anomalib_kd_plugins.data import BuildConfig, build
    from anomalib_kd_plugins.metrics import RANKING_METRICS
    from anomalib_kd_plugins.models.adps import loss as adps_loss
    from anomalib_kd_plugins.models.adps import torch_model
    from anomalib_kd_plugins.models.dmdd import loss as dmdd_loss
    from anomalib_kd_plugins.recipes import recipe
    from anomalib_kd_plugins.training import fit_and_test, mvtec_datamodule
    from anomalib_kd_plugins.weights import seed

    seed()
    original_wmb, original_forward = torch_model.weight_mask_block, adps_loss.AdpsLoss.forward

    def wmb_inverted(teacher, student, detach=False):
        cos_maps, _ = original_wmb(teacher, student, detach)
        return cos_maps, [w * t for w, t in zip(cos_maps, teacher, strict=True)]  # W·T instead of (1 − W)·T

    original_ngm, original_aim = dmdd_loss.ngm_loss, dmdd_loss.aim_loss_l1

    def ngm_flipped(*args, **kwargs):
        return -original_ngm(*args, **kwargs)

    def aim_flipped(*args, **kwargs):
        return -original_aim(*args, **kwargs)

    def loss_flipped(self, logits, cos_maps, mask):
        total, parts = original_forward(self, logits, cos_maps, mask)
        return -total, parts

    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp) / "data", [args.category], BuildConfig())
        for variant in args.variants:
            torch_model.weight_mask_block = wmb_inverted if variant == "wmb_inverted" else original_wmb
            adps_loss.AdpsLoss.forward = loss_flipped if variant == "loss_flipped" else original_forward
            dmdd_loss.ngm_loss = ngm_flipped if variant == "dmdd_ngm_flipped" else original_ngm
            dmdd_loss.aim_loss_l1 = aim_flipped if variant == "dmdd_aim_flipped" else original_aim
            spec = recipe("Dmdd" if variant.startswith("dmdd") else "Adps", "cpu")
            seed_everything(0, workers=True)
            metrics, engine, _ = fit_and_test(
                spec,
                mvtec_datamodule(root, args.category, spec.train_batch_size),
                Path(tmp) / variant,
                model_overrides={"visualizer": False},
                trainer_overrides={"enable_progress_bar": False},
            )
            keep = RANKING_METRICS
            if spec.model == "Adps":
                metrics["wmb_energy_AUROC"] = wmb_energy_auroc(engine)
                keep = (*keep, "wmb_energy_AUROC")
            else:
                branches = dmdd_branch_aurocs(engine)
                metrics["normality_AUROC"], metrics["abnormality_AUROC"] = (
                    branches["normality"],
                    branches["abnormality"],
                )
                keep = (*keep, "normality_AUROC", "abnormality_AUROC")
            print(f"{variant:<18}" + "  ".join(f"{k}={metrics[k]:.4f}" for k in keep), flush=True)


if __name__ == "__main__":
    main()
