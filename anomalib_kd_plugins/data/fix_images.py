"""``anomalib-kd data fix-images SRC DST``: copies of a camera's image tree that anomalib reads as the camera meant.

anomalib reads every image with ``PIL.Image.open(path).convert("RGB")``. That clips 16-bit and 32-bit integer pixels
(a 16-bit monochrome PNG or TIFF turns white) and ignores EXIF orientation. This writes a copy of the tree in which

* 16-bit (and 32-bit integer) grayscale images become 8-bit, scaled from the full 16-bit range: ``round(v / 257)``,
  i.e. ``v / 65535 · 255``, the same for every file (no per-image stretch, so brightness stays comparable);
* images with an EXIF orientation are turned upright (``--exif apply``, PIL's ``ImageOps.exif_transpose``, masks
  included, so both show the upright view) or keep their pixels and lose the tag (``--exif strip``, for masks drawn
  on the stored pixels); a JPEG re-saved for either is re-encoded at quality 95;
* every other file is copied byte for byte.

The source tree is never written to.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from anomalib_kd_plugins.components.inputs import EXIF_ORIENTATION
from anomalib_kd_plugins.components.options import check_choice

ExifMode = Literal["apply", "strip"]
EXIF_MODES = get_args(ExifMode)
INTEGER_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclass
class FixReport:
    """Relative paths of the files converted to 8-bit, turned upright, stripped of the tag, and copied as they are."""

    to_8bit: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)


def to_8bit(image: object) -> object:
    """A 16-bit (or 32-bit integer) grayscale PIL image as 8-bit ``L``, scaled from the full 16-bit range."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")


def fix_images(src: str | Path, dst: str | Path, exif: ExifMode = "apply") -> FixReport:
    """Write the fixed copy of ``src`` to ``dst`` (which must not exist or be empty, and not lie inside ``src``)."""
    from PIL import Image, ImageOps

    src, dst = Path(src).resolve(), Path(dst).resolve()
    check_choice("exif", exif, EXIF_MODES)
    if not src.is_dir():
        raise ValueError(f"{src} is not a folder: give the root of the image tree to copy.")
    if dst == src or src in dst.parents:
        raise ValueError(f"{dst} lies inside {src}: choose an output folder outside the source tree.")
    if dst.exists() and any(dst.iterdir()):
        raise ValueError(f"{dst} is not empty: choose a new output folder (nothing is overwritten).")
    report = FixReport()
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel, out = str(path.relative_to(src)), dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            image = Image.open(path)
            image.load()
        except Exception:  # not an image (or unreadable): copied unchanged, the data check names it later
            shutil.copy2(path, out)
            report.copied.append(rel)
            continue
        with image:
            if image.mode == "F":
                raise ValueError(f"{path} holds floating-point pixels: scale it to 8-bit yourself (range unknown).")
            fixed, orientation = image, int(image.getexif().get(EXIF_ORIENTATION, 1))
            if orientation != 1:
                # a re-saved file carries no EXIF, so "strip" is the re-save itself
                fixed = ImageOps.exif_transpose(image) if exif == "apply" else image
                (report.rotated if exif == "apply" else report.stripped).append(rel)
            if fixed.mode in INTEGER_MODES:
                fixed = to_8bit(fixed)
                report.to_8bit.append(rel)
            if fixed is image and orientation == 1:
                shutil.copy2(path, out)
                report.copied.append(rel)
                continue
            fixed.save(out, format=image.format, **({"quality": 95} if image.format == "JPEG" else {}))
    return report
