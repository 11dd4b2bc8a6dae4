"""``anomalib-kd data ksdd2 SRC DST``: KolektorSDD2 as anomalib's ``Folder`` datamodule reads it.

KolektorSDD2 (Božič et al. 2021, ~230×630 px photographs of electrical commutators) ships as two folders,
``train/`` and ``test/``, each holding ``NNNNN.png`` with its mask ``NNNNN_GT.png`` beside it; a defect-free image
has an all-black mask. ``Folder`` wants normal images, defective images and their masks in separate folders, so
this writes symbolic links (nothing is copied, the source is never written to)::

    DST/train/good/NNNNN.png            training images whose mask is empty
    DST/test/good/NNNNN.png             test images whose mask is empty
    DST/test/defect/NNNNN.png           test images with a defect
    DST/ground_truth/defect/NNNNN_GT.png  their masks

Training images with a defect are left out: ADPS trains on defect-free images only (the paper does not state the
Kolektor protocol; [A] docs/adps.md §1.8). The shipped ``adps_ksdd2.yaml`` config reads ``DST``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Ksdd2Layout:
    """How many images went where."""

    train_good: int
    train_defect_skipped: int
    test_good: int
    test_defect: int


def _mask_has_defect(mask: Path) -> bool:
    import cv2

    pixels = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if pixels is None:
        raise ValueError(f"cannot read the mask {mask}: re-extract KolektorSDD2, or delete the file and its image")
    return bool(np.any(pixels > 0))


def _pairs(split_dir: Path) -> list[tuple[Path, Path]]:
    images = sorted(p for p in split_dir.glob("*.png") if not p.stem.endswith("_GT"))
    missing = [p.name for p in images if not (p.parent / f"{p.stem}_GT.png").is_file()]
    if missing:
        raise ValueError(
            f"{split_dir} has {len(missing)} images without their NNNNN_GT.png mask (first: {missing[0]}); "
            "re-extract KolektorSDD2 from the official archive"
        )
    return [(p, p.parent / f"{p.stem}_GT.png") for p in images]


def make_ksdd2_layout(src: str | Path, dst: str | Path) -> Ksdd2Layout:
    """Link the official KolektorSDD2 folders into the ``Folder`` layout above; ``dst`` must not exist yet."""
    src, dst = Path(src).expanduser().resolve(), Path(dst).expanduser().absolute()
    for split in SPLITS:
        if not (src / split).is_dir():
            raise ValueError(
                f"{src} is not the KolektorSDD2 folder: it has no {split}/ subfolder. Pass the folder that holds "
                "train/ and test/ (the official archive, unpacked)"
            )
    if dst.exists():
        raise ValueError(f"{dst} exists already; pass a new folder (nothing was written)")
    pairs = {split: _pairs(src / split) for split in SPLITS}
    if not pairs["train"] or not pairs["test"]:
        raise ValueError(f"{src}/train or {src}/test holds no NNNNN.png images; re-extract KolektorSDD2")
    counts = {"train_good": 0, "train_defect_skipped": 0, "test_good": 0, "test_defect": 0}
    for split, items in pairs.items():
        for image, mask in items:
            defect = _mask_has_defect(mask)
            if split == "train" and defect:
                counts["train_defect_skipped"] += 1
                continue
            folder = dst / split / ("defect" if defect else "good")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / image.name).symlink_to(image)
            if defect:
                masks = dst / "ground_truth" / "defect"
                masks.mkdir(parents=True, exist_ok=True)
                (masks / mask.name).symlink_to(mask)
            counts[f"{split}_{'defect' if defect else 'good'}"] += 1
    return Ksdd2Layout(**counts)
