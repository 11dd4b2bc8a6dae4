"""Round 21's probe: are the fusion's statistics, measured on the training images, biased toward the map that has
memorised them? (inference only)

    PYTHONPATH=benchmarks python calibration.py BENCH_OUT [BENCH_OUT ...] --models Dmdd --out OUT

Loads every checkpoint as ``benchmarks/retest.py`` does (``measure_checkpoints``) and makes the segmentation map and
the KD map (``maps()``) of three sets of normal images: the clean training images (what the fit calibrates on), the
same images turned by the seven non-identity dihedral transforms (views the model was not trained on, unless its
recipe augments with them), and the good test images (unseen; a diagnostic only, since a recipe cannot calibrate on
test images). For each set and map it writes the mean and the scale ``"peak"`` uses (mean of the images' maxima less
the mean), and, for fused maps scaled by each set's statistics, the pixel AP of the smoothed map and the image AUROC
by the model's own score rule (``score_map``, top-k). A measurement, not a test.
"""

from __future__ import annotations

from typing import Any

from retest import measure_checkpoints


def calibration(model: Any, datamodule: Any) -> dict[str, float]:
    """The figures of the module docstring for one checkpoint on its category."""
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()
    generator = torch_model.anomaly_map_generator
    smooth = generator.smoother
    top_k = getattr(generator, "top_k", 1)
    raw_score = getattr(generator, "score_map", "smoothed") == "raw"

    def maps_of(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = [torch_model.maps(chunk) for chunk in images.split(16)]
        return torch.cat([s for s, _ in out]), torch.cat([k for _, k in out])

    def stats(seg: torch.Tensor, kd: torch.Tensor) -> list[float]:
        values = []
        for x in (seg.double(), kd.double()):
            mean = x.mean()
            values += [float(mean), float((x.flatten(1).amax(1).mean() - mean).clamp_min(1e-6))]
        return values

    with torch.no_grad():
        train = torch.cat([transform(b.image) for b in datamodule.train_dataloader()])
        views = torch.cat(
            [torch.rot90(train, r, (2, 3)) for r in (1, 2, 3)]
            + [torch.rot90(train.flip(3), r, (2, 3)) for r in (0, 1, 2, 3)]
        )
        seg_t, kd_t, masks, labels, good = [], [], [], [], []
        for batch in datamodule.test_dataloader():
            images = transform(batch.image)
            s, k = torch_model.maps(images)
            seg_t.append(s)
            kd_t.append(k)
            masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=images.shape[-2:], mode="nearest"))
            labels.append((batch.gt_label != 0).long())
            good.append(batch.gt_label == 0)
        seg_t, kd_t, masks, labels, good = (torch.cat(x) for x in (seg_t, kd_t, masks, labels, good))
        sets = {
            "train": stats(*maps_of(train)),
            "views": stats(*maps_of(views)),
            "goodtest": stats(seg_t[good], kd_t[good]),
        }
    row: dict[str, float] = {}
    pixels = masks.flatten().long()
    for name, (mu_s, sc_s, mu_k, sc_k) in sets.items():
        row |= {f"{name}_seg_mean": mu_s, f"{name}_seg_peak": sc_s, f"{name}_kd_mean": mu_k, f"{name}_kd_peak": sc_k}
        fused = (seg_t - mu_s) / sc_s + (kd_t - mu_k) / sc_k
        smoothed = smooth(fused)
        scored = (fused if raw_score else smoothed).flatten(1)
        score = scored.topk(min(top_k, scored.shape[1]), dim=1).values.mean(1)
        row[f"{name}_pixel_AP"] = float(binary_average_precision(smoothed.flatten(), pixels))
        row[f"{name}_img_AUROC"] = float(binary_auroc(score, labels))
    for name in ("seg", "kd"):  # how much each map's peak grows from training to unseen images
        row[f"{name}_peak_ratio_goodtest_train"] = row[f"goodtest_{name}_peak"] / row[f"train_{name}_peak"]
    return row


if __name__ == "__main__":
    measure_checkpoints(__doc__, calibration, "calibration.csv")
