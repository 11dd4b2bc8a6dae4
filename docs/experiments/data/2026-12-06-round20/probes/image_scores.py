"""Round 20's probe: image AUROC of image-score rules on saved checkpoints (inference only).

    python image_scores.py BENCH_OUT [BENCH_OUT ...] --models Adps --out OUT

Loads every checkpoint as ``benchmarks/retest.py`` does (``measure_checkpoints``), makes the segmentation map and the
KD map (``maps()``), scales them with the fusion's own statistics, and scores the test images by each rule: the max
of the smoothed or unsmoothed fused map, of each map alone, sums of the maps' maxima, and top-k means. It also
writes, per defect type, the mean max of the fused map before and after the Gaussian (``OUT/defect_types.csv``).
Run from the repository root with ``PYTHONPATH=benchmarks``. A measurement, not a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retest import measure_checkpoints, write_rows

TYPE_ROWS: list[dict[str, Any]] = []


def rules(model: Any, datamodule: Any) -> dict[str, float]:
    """Image AUROC of each rule for one checkpoint on its category's test split."""
    import torch
    from torchmetrics.functional.classification import binary_auroc

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()
    smooth = torch_model.anomaly_map_generator.smoother
    mu_seg, s_seg, mu_kd, s_kd = torch_model.anomaly_map_generator.fusion.stats
    segs, kds, labels, kinds = [], [], [], []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            seg, kd = torch_model.maps(transform(batch.image))
            segs.append((seg - mu_seg) / s_seg)
            kds.append((kd - mu_kd) / s_kd)
            labels.append((batch.gt_label != 0).long())
            kinds += [Path(p).parent.name for p in batch.image_path]
    seg, kd, y = torch.cat(segs), torch.cat(kds), torch.cat(labels)
    fused = seg + kd

    def peak(m: torch.Tensor, k: int = 1) -> torch.Tensor:
        return m.flatten(1).topk(k, dim=1).values.mean(1)

    def auroc(score: torch.Tensor) -> float:
        return float(binary_auroc(score, y))

    raw_max, smoothed_max = peak(fused), peak(smooth(fused))
    for kind in sorted(set(kinds)):
        pick = torch.tensor([k == kind for k in kinds])
        means = {"raw_max": float(raw_max[pick].mean()), "smoothed_max": float(smoothed_max[pick].mean())}
        TYPE_ROWS.append({"category": datamodule.category, "type": kind} | means)
    return (
        {
            "fused_smoothed_max": auroc(smoothed_max),
            "fused_raw_max": auroc(raw_max),
            "seg_smoothed_max": auroc(peak(smooth(seg))),
            "seg_raw_max": auroc(peak(seg)),
            "kd_smoothed_max": auroc(peak(smooth(kd))),
            "kd_raw_max": auroc(peak(kd)),
            "sum_of_maxima": auroc(peak(smooth(seg)) + peak(smooth(kd))),
        }
        | {f"fused_smoothed_top{k}": auroc(peak(smooth(fused), k)) for k in (25, 100, 400, 1600, 3200)}
        | {f"fused_raw_top{k}": auroc(peak(fused, k)) for k in (100, 400, 1600)}
    )


if __name__ == "__main__":
    rows = measure_checkpoints(__doc__, rules, "image_scores.csv")
    write_rows(TYPE_ROWS, Path(__import__("sys").argv[-1]) / "defect_types.csv")
