"""Round 22's probe: where on a good test image does each map peak, and which map's peak ranks the images?
(inference only)

    PYTHONPATH=benchmarks python peaks.py BENCH_OUT [BENCH_OUT ...] --models Dmdd --out OUT [--set Dmdd.K=V]

Loads every checkpoint as ``benchmarks/retest.py`` does and makes, on the test images, the segmentation map, the KD
map (``maps()``) and the fused map with the checkpoint's own statistics (``fusion``). For each map: the image AUROC
of its per-image maximum, the share of good images whose maximum lies in the 8-pixel border ring (23 % of a 128²
map's area), and the mean maximum on good and on defective images, in units of the map's own peak scale. A
measurement, not a test.
"""

from __future__ import annotations

from typing import Any

from retest import measure_checkpoints

RING = 8


def peaks(model: Any, datamodule: Any) -> dict[str, float]:
    """The figures of the module docstring for one checkpoint on its category."""
    import torch
    from torchmetrics.functional.classification import binary_auroc

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()
    fusion = torch_model.anomaly_map_generator.fusion
    seg_t, kd_t, labels = [], [], []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            s, k = torch_model.maps(transform(batch.image))
            seg_t.append(s)
            kd_t.append(k)
            labels.append((batch.gt_label != 0).long())
        seg, kd, labels = torch.cat(seg_t), torch.cat(kd_t), torch.cat(labels)
        fused = fusion(seg, kd)
    row: dict[str, float] = {}
    for name, x in (("seg", seg), ("kd", kd), ("fused", fused)):
        x = x.flatten(1)
        side = int(x.shape[1] ** 0.5)
        top = x.amax(1)
        where = x.argmax(1)
        rows, cols = where // side, where % side
        ring = (rows < RING) | (cols < RING) | (rows >= side - RING) | (cols >= side - RING)
        good = labels == 0
        scale = (top[good].mean() - x[good].mean()).clamp_min(1e-6)
        row[f"{name}_img_AUROC"] = float(binary_auroc(top, labels))
        row[f"{name}_good_peak_in_ring"] = float(ring[good].float().mean())
        row[f"{name}_bad_peak_in_ring"] = float(ring[~good].float().mean())
        row[f"{name}_top_good"] = float(top[good].mean() / scale)
        row[f"{name}_top_bad"] = float(top[~good].mean() / scale)
    return row


if __name__ == "__main__":
    measure_checkpoints(__doc__, peaks, "peaks.csv")
