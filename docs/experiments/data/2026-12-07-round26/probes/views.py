"""Test-time views: each map averaged over symmetric views of the test image (inference only).

python views.py BENCH_OUT [BENCH_OUT ...] --models Dmdd --out OUT

For every checkpoint: the head's map and the KD map of each test image in the eight symmetries of the square
(each view's maps turned back), then maps averaged over view sets: id (the model's own), h (id + horizontal flip),
flips (id, h, v, half turn), d8 (all eight). Per variant the fusion's statistics are measured again with the same
views on the model's calibration images (the recipe's ``map_fusion_calibration``), as a fit would; pixel AP after
the model's Gaussian, image AUROC of the model's score rule. A measurement, not a test.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[5] / "benchmarks"))
from retest import measure_checkpoints

VIEWS = [(k, f) for f in (False, True) for k in range(4)]  # (quarter turns, flip first)
SETS = {
    "id": [(0, False)],
    "h": [(0, False), (0, True)],
    "flips": [(0, False), (0, True), (2, True), (2, False)],
    "d8": VIEWS,
}


def measure(model, datamodule):
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    from anomalib_kd_plugins.components.fusion import calibration_views
    from anomalib_kd_plugins.components.mixin import ordered_images

    torch.set_num_threads(2)
    datamodule.setup()
    transform = model.pre_processor.transform
    tm = model.model.eval()
    gen = tm.anomaly_map_generator

    def view(x, k, f):
        return torch.rot90(x.flip(-1) if f else x, k, (-2, -1))

    def unview(x, k, f):
        x = torch.rot90(x, -k, (-2, -1))
        return x.flip(-1) if f else x

    def all_views(images):
        out = {}
        for k, f in VIEWS:
            seg, kd = tm.maps(view(images, k, f))
            out[(k, f)] = (unview(seg, k, f), unview(kd, k, f))
        return out

    def collect(batches):
        per = {v: ([], []) for v in VIEWS}
        for images in batches:
            for v, (s, d) in all_views(images).items():
                per[v][0].append(s)
                per[v][1].append(d)
        return {v: (torch.cat(s), torch.cat(d)) for v, (s, d) in per.items()}

    cal_mode = getattr(model, "map_fusion_calibration", "train")
    seen = 0
    cal_batches = []
    for images in ordered_images(datamodule.train_dataloader(), transform):
        if cal_mode != "train":
            images, seen = calibration_views(images, seen, cal_mode == "views"), seen + len(images)
        cal_batches.append(images)
    masks, labels, test_batches = [], [], []
    for batch in datamodule.test_dataloader():
        images = transform(batch.image)
        test_batches.append(images)
        masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=images.shape[-2:], mode="nearest"))
        labels.append(batch.gt_label)
    with torch.no_grad():
        cal, test = collect(cal_batches), collect(test_batches)
    target, image_target = torch.cat(masks).flatten().long(), torch.cat(labels).long()
    score = getattr(gen, "top_k", None)

    def image_score(raw):
        if score is not None:
            from anomalib_kd_plugins.models.dmdd.anomaly_map import top_k_mean_score

            return top_k_mean_score(gen.smoother(raw) if gen.score_map == "smoothed" else raw, score)
        m = gen.smoother(raw) if getattr(gen, "score_map", "raw") == "smoothed" else raw
        return m.flatten(1).amax(1)

    def avg(maps, views, i):
        return torch.stack([maps[v][i] for v in views]).mean(0)

    def stats(x):
        x = x.double()
        mean = x.mean()
        return mean, (x.flatten(1).amax(1).mean() - mean).clamp_min(1e-6)

    row = {}
    for seg_set in ("id", "flips", "d8"):
        for kd_set in SETS:
            if seg_set != "id" and kd_set != seg_set:
                continue
            s_cal, k_cal = avg(cal, SETS[seg_set], 0), avg(cal, SETS[kd_set], 1)
            (ms, ss), (mk, sk) = stats(s_cal), stats(k_cal)
            s, k = avg(test, SETS[seg_set], 0), avg(test, SETS[kd_set], 1)
            name = f"s{seg_set}_k{kd_set}"
            for part, raw in (("", (s - ms) / ss + (k - mk) / sk), ("kd_", k)):
                row[f"{part}AP_{name}"] = float(binary_average_precision(gen.smoother(raw.float()).flatten(), target))
                row[f"{part}img_{name}"] = float(binary_auroc(image_score(raw.float()), image_target))
    return row


if __name__ == "__main__":
    measure_checkpoints(__doc__, measure, "views.csv")
