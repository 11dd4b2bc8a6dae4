"""How the distillation signal is best read out: variants of the KD map on trained checkpoints, inference only.

    python benchmarks/kd_variants.py BENCH_OUT [BENCH_OUT ...] [--models Adps] --out OUT

For every checkpoint an ``anomalib-kd bench`` run saved (loaded as ``benchmarks/retest.py`` loads it), the per-level
distances d_l = 1 − cos(T_l, S_l) (Adps: the student; Dmdd: the normality branch) are read out in several ways, each
smoothed with the model's own Gaussian and scored against the real test masks:

* ``kd``: the models' KD map, the mean over levels of d_l (components/fusion.py);
* ``l1`` / ``l2`` / ``l3``: one level alone; ``l23``: the mean of the two deepest;
* ``kdz``: the sum over levels of (d_l − μ_l) / σ_l, with each level's mean and std over the pixels of the clean
  training images (each level standardised before the levels are added, so no level wins by its scale alone);
* ``pool`` / ``pool5``: the mean over levels of 1 − cos of the 3×3 / 5×5-averaged features (PatchCore's local
  neighbourhood); ``pool_l3``: only the deepest level's features averaged over 3×3;
* ``seg``: the segmentation head's map; ``seg+X``: seg and the variant X, each standardised on the training images
  and added (``seg+kd`` is the models' ``map_fusion="seg+kd"``);
* ``seg+pool_n@peak``: seg and pool_n each scaled by the mean of the training images' per-image maxima (above the
  training pixels' mean) instead of the pixels' std, then added (the models' ``map_fusion_scale="peak"``);
  ``seg/2+pool_n``: the standardised head's map at half weight (how much the sum depends on the head's share);
* ``pool_pp``: the pooled map standardised per pixel position, with each position's mean and std over the
  training images' maps (the border's positions average fewer neighbours);
* ``pool_n``: the pooled map of each level times the share of its 3×3 neighbourhood inside the map (a corner averages
  4 positions, an edge 6: if the student's errors were independent, 1 − cos of an n-average would fall as 1/n);
  ``pool_rep``: the features padded by replicating their edge before the 3×3 average, so every position averages 9.

Image scores that are not a map's maximum, ``img_A|B``: the maxima of maps A and B per image, each standardised with
the mean and std of the training images' maxima, added.

Columns ``AP_X`` (pixel AP), ``AUROC_X`` (pixel AUROC), ``img_X`` (image AUROC of the map's maximum), ``inner_X``
(image AUROC of the maximum inside the map, without its 16-pixel border ring) and ``ring_X`` (the share of good test
images whose maximum lies in that ring; the ring is 44 % of a 128² map). Writes
``OUT/kd_variants.csv``, one row per fit, and prints the mean of each variant per category. A measurement, not a
test.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from retest import measure_checkpoints

RING = 16  # pixels: the border ring of ``inner_X`` / ``ring_X`` (one stride-16 feature cell)


def level_pairs(torch_model: Any, images: Any) -> tuple[list[Any], list[Any]]:
    """(teacher features, student features) per level: Adps's student, Dmdd's normality branch."""
    if hasattr(torch_model, "branch_distances"):
        features = torch_model.features(images)
        return features.teacher, features.normality
    return torch_model.teacher_student_features(images)


def level_distances(torch_model: Any, images: Any, pool: int = 1, border: str = "inside") -> list[Any]:
    """d_l = 1 − cos(T_l, S_l) per level (the models' own, ``components/fusion.py``), (B,1,H,W) at the input size;
    ``pool`` > 1: of pool×pool-averaged features, the border as ``kd_pool_border`` says (``"inside"``: the average of
    the positions inside the map, round 13's read-out, which ``pool``, ``pool_l3`` and ``pool5`` keep)."""
    import torch.nn.functional as F

    from anomalib_kd_plugins.components.fusion import level_distances as distances

    size = images.shape[-2:]
    pairs = level_pairs(torch_model, images)
    return [F.interpolate(d, size=size, mode="bilinear") for d in distances(*pairs, pool, border)]  # type: ignore[arg-type]


def replicated_pool(torch_model: Any, images: Any) -> Any:
    """``pool_rep`` of the module docstring: the mean over levels at the input size."""
    import torch
    import torch.nn.functional as F

    teacher, student = level_pairs(torch_model, images)
    distances = []
    for t, s in zip(teacher, student, strict=True):
        padded = [F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1) for x in (t, s)]
        distance = 1 - F.cosine_similarity(*padded, dim=1).unsqueeze(1)
        distances.append(F.interpolate(distance, size=images.shape[-2:], mode="bilinear"))
    return torch.stack(distances).mean(0)


def variants(torch_model: Any, images: Any) -> dict[str, Any]:
    """Every raw (unsmoothed, unstandardised) map of the module docstring for ``images``."""
    import torch

    levels = level_distances(torch_model, images)
    seg, _ = torch_model.maps(images, kd=False)
    maps = {f"l{i}": d for i, d in enumerate(levels, 1)}
    maps["kd"] = torch.stack(levels).mean(0)
    maps["l23"] = torch.stack(levels[1:]).mean(0)
    pooled = level_distances(torch_model, images, pool=3)
    maps["pool"] = torch.stack(pooled).mean(0)
    maps["pool_l3"] = torch.stack([*levels[:-1], pooled[-1]]).mean(0)
    maps["pool5"] = torch.stack(level_distances(torch_model, images, pool=5)).mean(0)
    maps["pool_n"] = torch.stack(level_distances(torch_model, images, pool=3, border="scaled")).mean(0)
    maps["pool_rep"] = replicated_pool(torch_model, images)
    if seg is not None:
        maps["seg"] = seg
    return maps


def score(model: Any, datamodule: Any) -> dict[str, float]:
    """The columns of the module docstring for each variant on one category's test split."""
    import torch
    import torch.nn.functional as F
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    from anomalib_kd_plugins.components.fusion import FusedMap

    datamodule.setup()
    transform = model.pre_processor.transform
    torch_model = model.model.eval()
    smoother = torch_model.anomaly_map_generator.smoother
    with torch.no_grad():
        train = defaultdict(list)
        for batch in datamodule.train_dataloader():
            for name, m in variants(torch_model, transform(batch.image)).items():
                train[name].append(m)
        train = {name: torch.cat(v) for name, v in train.items()}
        level_names = [n for n in train if n[1:].isdigit()]
        stats = {name: (v.mean(), v.std().clamp_min(1e-6)) for name, v in train.items()}
        # kdz: each level standardised on the training pixels, then added; its own statistics from the same pixels
        train["kdz"] = sum((train[n] - stats[n][0]) / stats[n][1] for n in level_names)
        stats["kdz"] = (train["kdz"].mean(), train["kdz"].std().clamp_min(1e-6))
        test, masks, labels = defaultdict(list), [], []
        for batch in datamodule.test_dataloader():
            images = transform(batch.image)
            for name, m in variants(torch_model, images).items():
                test[name].append(m)
            masks.append(F.interpolate(batch.gt_mask[:, None].float(), size=images.shape[-2:], mode="nearest"))
            labels.append(batch.gt_label)
    test = {name: torch.cat(v) for name, v in test.items()}
    test["kdz"] = sum((test[n] - stats[n][0]) / stats[n][1] for n in level_names)
    # pool_pp: the pooled map standardised per pixel position, with each position's mean and std over the training
    # images (a position at the border, which averages fewer neighbours, gets its own spread)
    position_mean, position_std = train["pool"].mean(0), train["pool"].std(0).clamp_min(1e-6)
    train["pool_pp"] = (train["pool"] - position_mean) / position_std
    test["pool_pp"] = (test["pool"] - position_mean) / position_std
    stats["pool_pp"] = (train["pool_pp"].mean(), train["pool_pp"].std().clamp_min(1e-6))

    def z(name: str, split: dict[str, Any]) -> Any:
        mean, std = stats[name]
        return (split[name] - mean) / std

    if "seg" in test:
        for kd in [n for n in list(test) if n != "seg" and n not in level_names]:
            for split in (train, test):
                split[f"seg+{kd}"] = z("seg", split) + z(kd, split)
        peak = FusedMap("seg+kd", map_fusion_scale="peak")  # the models' own map_fusion_scale="peak"
        peak.calibrate(train["seg"], train["pool_n"])
        for split in (train, test):
            split["seg+pool_n@peak"] = peak(split["seg"], split["pool_n"])
            split["seg/2+pool_n"] = z("seg", split) / 2 + z("pool_n", split)
    target = torch.cat(masks).flatten().long()
    image_target = torch.cat(labels).long()
    image_pairs = [("seg+pool", "kd"), ("seg", "kd"), ("seg+pool", "l23"), ("kd", "l23")]
    inner = torch.zeros(*test["kd"].shape[-2:], dtype=torch.bool)
    inner[RING:-RING, RING:-RING] = True
    out = {}
    for name, raw in test.items():
        smooth = smoother(raw)
        # into [0, 1] over the whole test set (a monotone map: the ranks stay): torchmetrics takes values outside it
        # for logits and applies a sigmoid, which in float32 ties every z-score above ~17
        smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()).clamp_min(1e-12)
        out[f"AP_{name}"] = float(binary_average_precision(smooth.flatten(), target))
        out[f"AUROC_{name}"] = float(binary_auroc(smooth.flatten(), target))
        out[f"img_{name}"] = float(binary_auroc(smooth.flatten(1).amax(1), image_target))
        out[f"inner_{name}"] = float(binary_auroc(smooth[:, 0, inner].amax(1), image_target))
        in_ring = ~inner.flatten()[smooth.flatten(1).argmax(1)]
        out[f"ring_{name}"] = float(in_ring[image_target == 0].float().mean())
    for a, b in image_pairs if "seg" in test else []:
        score = 0
        for name in (a, b):
            peaks = smoother(train[name]).flatten(1).amax(1)
            score = score + (smoother(test[name]).flatten(1).amax(1) - peaks.mean()) / peaks.std().clamp_min(1e-6)
        score = (score - score.min()) / (score.max() - score.min()).clamp_min(1e-12)
        out[f"img_{a}|{b}"] = float(binary_auroc(score, image_target))
    return out


def mean_of(rows: list[dict[str, Any]], key: str) -> float:
    """The mean of one column over ``rows``."""
    return sum(r[key] for r in rows) / len(rows)


def summarise(rows: list[dict[str, Any]]) -> None:
    """Print, per model, each variant's pixel AP per category and its means (over every fit) as a Markdown table."""
    names = [k[3:] for k in rows[0] if k.startswith("AP_")]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        cats = list(dict.fromkeys(r["category"] for r in mine))
        print(f"\n{model}: pixel AP per category and mean; pixel AUROC and image AUROC means ({len(mine)} fits)")
        print(
            "| variant | " + " | ".join(cats) + " | mean | pixel AUROC | image AUROC | image AUROC without the ring "
            "| good images' max in the ring | image AUROC per category |"
        )
        print("|---" * (len(cats) + 7) + "|")
        for name in names:
            per = [mean_of([r for r in mine if r["category"] == c], f"AP_{name}") for c in cats]
            means = [mean_of(mine, f"{key}_{name}") for key in ("AP", "AUROC", "img", "inner", "ring")]
            image = [mean_of([r for r in mine if r["category"] == c], f"img_{name}") for c in cats]
            cells = " | ".join(f"{v:.3f}" for v in per + means)
            print(f"| {name} | {cells} | {' / '.join(f'{v:.3f}' for v in image)} |")
        for key in [k for k in mine[0] if k.startswith("img_") and "|" in k]:
            image = [mean_of([r for r in mine if r["category"] == c], key) for c in cats]
            print(f"image score {key[4:]}: {mean_of(mine, key):.3f} ({' / '.join(f'{v:.3f}' for v in image)})")


def main() -> int:
    summarise(measure_checkpoints(__doc__, score, "kd_variants.csv"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
