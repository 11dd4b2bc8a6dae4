"""Where the image score ranks a good image above a defective one (inference only, the models as loaded).

python image_ranks.py BENCH_OUT [BENCH_OUT ...] --models Dmdd --set Dmdd.kd_views=dihedral ... --out OUT

Per checkpoint, per test image: its label and defect type, the model's own score (its top-k rule, in float32),
scores of other rules on the same fused map (the mean of the top k raw pixels for several k, the max of the smoothed
map), where the raw map peaks (its distance to the nearest image edge, in pixels) and what each standardised part of
the fusion (head, KD) contributes there; one row an image in ``OUT/images.csv``. The row printed per checkpoint is the
image AUROC of each rule (in float64). A measurement, not a test.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[5] / "benchmarks"))
from retest import measure_checkpoints, write_rows

TOP_K = (1, 10, 25, 50, 100, 200, 400, 1600)
IMAGES: list[list[dict]] = []  # per checkpoint, in the order measured


def measure(model, datamodule):
    import torch
    from torchmetrics.functional.classification import binary_auroc

    torch.set_num_threads(2)
    datamodule.setup()
    transform = model.pre_processor.transform
    tm = model.model.eval()
    gen = tm.anomaly_map_generator
    mu_s, sd_s, mu_k, sd_k = (float(v) for v in gen.fusion.stats)
    rows = []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            images = transform(batch.image)
            seg, kd = tm.maps(images)
            raw = gen.fusion(seg, kd)
            smooth = gen.smoother(raw)
            flat = raw.flatten(1).double()
            h, w = raw.shape[-2:]
            for i in range(len(images)):
                r = {"path": Path(batch.image_path[i]).parent.name + "/" + Path(batch.image_path[i]).name}
                r["label"] = int(batch.gt_label[i])
                r["own"] = float(raw[i].flatten().topk(gen.top_k).values.mean())  # the model's rule, float32
                for k in TOP_K:
                    r[f"top{k}"] = float(flat[i].topk(k).values.mean())
                r["smooth_max"] = float(smooth[i].amax())
                at = int(flat[i].argmax())
                y, x = divmod(at, w)
                r["peak_edge_px"] = min(y, x, h - 1 - y, w - 1 - x)
                r["peak_seg"] = (float(seg[i, 0, y, x]) - mu_s) / sd_s
                r["peak_kd"] = (float(kd[i, 0, y, x]) - mu_k) / sd_k
                rows.append(r)
    labels = torch.tensor([r["label"] for r in rows])
    out = {}
    for key in ("own", *(f"top{k}" for k in TOP_K), "smooth_max"):
        out[key] = float(binary_auroc(torch.tensor([r[key] for r in rows], dtype=torch.float64), labels))
    IMAGES.append(rows)
    return out


if __name__ == "__main__":
    rows = measure_checkpoints(__doc__, measure, "aurocs.csv")
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    keys = ("model", "category", "seed")
    write_rows(
        [{k: row[k] for k in keys} | r for row, images in zip(rows, IMAGES, strict=True) for r in images],
        out / "images.csv",
    )
