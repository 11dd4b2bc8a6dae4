"""How much of Dmdd's fused map is the head's: the fused map with the head's scaled map weighted by w.

python head_weight.py BENCH_OUT [BENCH_OUT ...] --models Dmdd --out OUT

Inference only, every checkpoint of the bench runs named, loaded as ``benchmarks/retest.py`` loads it. With the
checkpoint's own fusion statistics (μ_seg, s_seg, μ_kd, s_kd; ``map_fusion_scale="peak"``), the map
w·(seg − μ_seg)/s_seg + (kd − μ_kd)/s_kd for w in WEIGHTS (w = 1: the model's map), smoothed by the model's Gaussian
for the pixel AP, its top-k mean before the Gaussian for the image AUROC (the model's own rules). Also the
statistics themselves (``s_seg``, ``s_kd``). Writes OUT/head_weight.csv. A measurement, not a test.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[5] / "benchmarks"))
from retest import measure_checkpoints

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)


def measure(model, datamodule) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    from anomalib_kd_plugins.models.dmdd.anomaly_map import top_k_mean_score

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()
    generator = torch_model.anomaly_map_generator
    mu_seg, s_seg, mu_kd, s_kd = generator.fusion.stats
    segs, kds, masks, labels = [], [], [], []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            images = transform(batch.image)
            seg, kd = torch_model.maps(images)
            segs.append(seg)
            kds.append(kd)
            masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=images.shape[-2:], mode="nearest"))
            labels.append(batch.gt_label)
    seg, kd = torch.cat(segs), torch.cat(kds)
    target, image_target = torch.cat(masks).flatten().long(), torch.cat(labels).long()
    row = {"s_seg": float(s_seg), "s_kd": float(s_kd)}
    for w in WEIGHTS:
        raw = w * (seg - mu_seg) / s_seg + (kd - mu_kd) / s_kd
        row[f"AP_w{w}"] = float(binary_average_precision(generator.smoother(raw).flatten(), target))
        row[f"img_w{w}"] = float(binary_auroc(top_k_mean_score(raw, generator.top_k), image_target))
    return row


if __name__ == "__main__":
    measure_checkpoints(__doc__, measure, "head_weight.csv")
