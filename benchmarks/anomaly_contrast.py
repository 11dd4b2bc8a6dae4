"""The shortcut cue of each synthetic-anomaly source: local contrast inside an anomaly over its surroundings.

For every source that needs no files, anomalies are drawn (probability 1) on the demo suite's training images at the
CPU recipes' 128², and :func:`anomalib_kd_plugins.components.synthesis.local_contrast_ratio` is taken per anomaly: 1
means as contrasted as the surface around it, below 0.6 a washed-out patch. Prints a markdown table per source
(median, quartiles, share below 0.6), over all categories and per category.

    python benchmarks/anomaly_contrast.py --root DATA [--samples 64] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def load(root: Path, category: str, size: int = 128) -> torch.Tensor:
    """A category's training images as (N, 3, size, size) pixels in [0, 1]."""
    from torchvision.io import read_image
    from torchvision.transforms.v2 import functional as tf

    paths = sorted((root / category / "train" / "good").glob("*.png"))
    return torch.stack([tf.resize(read_image(str(p)), [size, size], antialias=True) for p in paths]).float() / 255


def main() -> None:
    from anomalib_kd_plugins.components.synthesis import ANOMALY_SOURCES, contrast_ratios
    from anomalib_kd_plugins.data import DEFAULT_CATEGORIES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, type=Path, help="the demo suite (anomalib-kd data build DIR)")
    parser.add_argument("--samples", type=int, default=64, help="anomalies per source and category")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sources = [s for s in ANOMALY_SOURCES if s != "folder"]
    print("| source | " + " | ".join(DEFAULT_CATEGORIES) + " | all: median [q25, q75] | all: share < 0.6 |")
    print("|---" * (len(DEFAULT_CATEGORIES) + 3) + "|")
    for source in sources:
        per = {
            c: torch.tensor(contrast_ratios(source, load(args.root, c), args.samples, args.seed))
            for c in DEFAULT_CATEGORIES
        }
        every = torch.cat(list(per.values()))
        q25, q50, q75 = (float(every.quantile(q)) for q in (0.25, 0.5, 0.75))
        cells = " | ".join(f"{float(per[c].median()):.2f}" for c in DEFAULT_CATEGORIES)
        print(f"| {source} | {cells} | {q50:.2f} [{q25:.2f}, {q75:.2f}] | {float((every < 0.6).float().mean()):.0%} |")


if __name__ == "__main__":
    main()
