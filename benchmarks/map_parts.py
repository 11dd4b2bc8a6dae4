"""Each part of a trained model on its own, on the real test masks: is the student or the head the weak part?

    python benchmarks/map_parts.py BENCH_OUT [BENCH_OUT ...] [--models Adps] --out OUT

For every checkpoint an ``anomalib-kd bench`` run saved (loaded as ``benchmarks/retest.py`` loads it), inference
only:

* ``seg_AP`` / ``kd_AP``: pixel AP against the real defect masks of the segmentation map and of the KD map
  (``maps()`` of the torch model: before fusion and smoothing, each at the input size);
* ``kd_on_defect`` / ``kd_on_normal``: the KD map's mean on defect pixels and on the pixels of good test images, and
  ``kd_contrast`` their ratio (does the student still differ from the teacher where the surface is defective?);
* ``distance_train`` / ``distance_good_test``: the student's mean 1 − cos over levels (Dmdd: the normality branch)
  on the clean training images and on the good test images (has it learned the normal images, and only them?);
* ``seg_img_AUROC`` / ``kd_img_AUROC`` / ``img_AUROC``: image AUROC of each map alone, scored by one rule for both
  models (the max of the map after the model's own smoothing, ADPS's Sc = max(G(M))), and of the model's own score
  (is an image score lost in the head, in the KD map, or in how they are added?); ``seg_raw_img_AUROC`` /
  ``kd_raw_img_AUROC``: the same from each map's max before the smoothing (does the Gaussian spread a peak that
  ranked the images?);
* Dmdd only, the abnormality branch's own KD map: ``abn_AP`` its pixel AP, ``abn_contrast`` its defect/normal
  ratio, and ``branch_corr`` the pixel correlation of the two branches' maps on the test images (do the branches
  tell different things about real defects, or is one a copy of the other?).

Writes ``OUT/map_parts.csv`` and prints one line per fit. A measurement, not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from retest import measure_checkpoints


def parts(model: Any, datamodule: Any) -> dict[str, float]:
    """The figures of the module docstring for one model on one category's test split."""
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()

    def distance(images: torch.Tensor) -> float:
        levels = {k: v for k, v in torch_model.student_distances(images).items() if "abnormality" not in k}
        return float(torch.stack(list(levels.values())).mean())

    decoupled = hasattr(torch_model, "branch_distances")  # Dmdd: a second, abnormality branch
    smoother = torch_model.anomaly_map_generator.smoother

    def max_smoothed(maps: torch.Tensor) -> torch.Tensor:
        return smoother(maps).flatten(1).amax(dim=1)

    seg_all, kd_all, abn_all, masks_all, is_good, good, scores = [], [], [], [], [], [], []
    with torch.no_grad():
        train = torch.cat([transform(b.image) for b in datamodule.train_dataloader()])
        for batch in datamodule.test_dataloader():
            images = transform(batch.image)
            seg, kd = torch_model.maps(images)
            seg_all.append(seg)
            kd_all.append(kd)
            scores.append(torch_model(images).pred_score)
            if decoupled:
                features = torch_model.features(images)
                abn_all.append(
                    torch_model.anomaly_map_generator.kd_map(features.teacher, features.abnormality, images.shape[-2:])
                )
            masks_all.append(F.interpolate(batch.gt_mask[:, None].float(), size=images.shape[-2:], mode="nearest"))
            is_good.append(batch.gt_label == 0)
            good.append(images[is_good[-1]])
        good_images = torch.cat(good)
        seg, kd, masks = torch.cat(seg_all), torch.cat(kd_all), torch.cat(masks_all)
        labels = masks.flatten().long()
        image_labels = (~torch.cat(is_good)).long()
        defect = kd.flatten()[labels == 1].mean()
        normal_kd = kd[torch.cat(is_good)].mean()  # the good images' KD maps, from the same pass
        branch = {}
        if decoupled:
            abn = torch.cat(abn_all)
            branch = {
                "abn_AP": float(binary_average_precision(abn.flatten(), labels)),
                "abn_contrast": float(abn.flatten()[labels == 1].mean() / abn[torch.cat(is_good)].mean()),
                "branch_corr": float(torch.corrcoef(torch.stack([kd.flatten(), abn.flatten()]))[0, 1]),
            }
        return branch | {
            "seg_AP": float(binary_average_precision(seg.flatten(), labels)),
            "kd_AP": float(binary_average_precision(kd.flatten(), labels)),
            "seg_img_AUROC": float(binary_auroc(max_smoothed(seg), image_labels)),
            "kd_img_AUROC": float(binary_auroc(max_smoothed(kd), image_labels)),
            "seg_raw_img_AUROC": float(binary_auroc(seg.flatten(1).amax(dim=1), image_labels)),
            "kd_raw_img_AUROC": float(binary_auroc(kd.flatten(1).amax(dim=1), image_labels)),
            "img_AUROC": float(binary_auroc(torch.cat(scores), image_labels)),
            "kd_on_defect": float(defect),
            "kd_on_normal": float(normal_kd),
            "kd_contrast": float(defect / normal_kd),
            "distance_train": distance(train),
            "distance_good_test": distance(good_images),
        }


def main() -> int:
    measure_checkpoints(__doc__, parts, "map_parts.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
