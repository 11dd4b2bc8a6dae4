"""Show that the quality gate catches broken models: the CPU recipe with the WMB inverted or the loss sign flipped.

    python benchmarks/broken_models.py [--category brick] [--variants ok wmb_inverted loss_flipped]

Each variant trains the ``adps_cpu`` preset exactly as ``tests/quality`` does and prints its metrics; a broken variant
must fail one of that test's gates: pixel AUROC ≥ 0.90, or WMB-output energy AUROC on the real defects ≥ 0.75.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "quality"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="brick")
    parser.add_argument("--variants", nargs="+", default=["ok", "wmb_inverted", "loss_flipped"])
    args = parser.parse_args()

    from test_quality import train_and_test, wmb_energy_auroc

    from anomalib_kd_plugins.data import BuildConfig, build
    from anomalib_kd_plugins.models.adps import loss as adps_loss
    from anomalib_kd_plugins.models.adps import torch_model
    from anomalib_kd_plugins.weights import seed

    seed()
    original_wmb, original_forward = torch_model.weight_mask_block, adps_loss.AdpsLoss.forward

    def wmb_inverted(teacher, student, detach=False):
        cos_maps, _ = original_wmb(teacher, student, detach)
        return cos_maps, [w * t for w, t in zip(cos_maps, teacher, strict=True)]  # W·T instead of (1 − W)·T

    def loss_flipped(self, logits, cos_maps, mask):
        total, parts = original_forward(self, logits, cos_maps, mask)
        return -total, parts

    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp) / "data", [args.category], BuildConfig(image_size=128))
        for variant in args.variants:
            torch_model.weight_mask_block = wmb_inverted if variant == "wmb_inverted" else original_wmb
            adps_loss.AdpsLoss.forward = loss_flipped if variant == "loss_flipped" else original_forward
            metrics, engine = train_and_test("adps_cpu", root, args.category, Path(tmp) / variant)
            metrics["wmb_energy_AUROC"] = wmb_energy_auroc(engine)
            keep = ("image_AUROC", "pixel_AUROC", "pixel_AUPR", "pixel_AUPRO", "wmb_energy_AUROC")
            print(f"{variant:<14}" + "  ".join(f"{k}={metrics[k]:.4f}" for k in keep), flush=True)


if __name__ == "__main__":
    main()
