"""Input checks (images, camera files, datasets) with errors that name the problem and the fix: bad input must never
turn into NaN maps."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

MAX_LISTED = 10
logger = logging.getLogger(__name__)


def tracing() -> bool:
    """True while torch.export / dynamo / the JIT trace the model: data-dependent checks must stay out of graphs."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


def check_rgb(images: torch.Tensor) -> None:
    """Both models take N×3×H×W RGB batches (ImageNet teachers); say how to convert anything else."""
    if images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape)
        kind = {1: "grayscale", 4: "RGBA"}.get(images.shape[1] if images.ndim == 4 else -1, "non-RGB")
        raise ValueError(
            f"Expected a batch of RGB images shaped N×3×H×W, got {shape} ({kind}). anomalib's datamodules convert "
            "grayscale and RGBA files to RGB on read; for tensors use image.expand(-1, 3, -1, -1) for grayscale or "
            "image[:, :3] for RGBA (or torchvision.transforms.v2.RGB())."
        )


def check_finite(images: torch.Tensor, paths: Sequence[str] | None = None) -> None:
    """Refuse NaN/Inf pixels instead of returning NaN maps; list the offending images when their paths are known."""
    finite = torch.isfinite(images.flatten(1)).all(dim=1)
    if bool(finite.all()):
        return
    bad = [int(i) for i in (~finite).nonzero().flatten()]
    where = [paths[i] for i in bad] if paths is not None and len(paths) == len(images) else [f"batch index {bad}"]
    raise ValueError(
        f"{len(bad)} input image(s) contain NaN or Inf values: {where[:MAX_LISTED]}. Fix or remove them, or check the "
        "custom transforms that produced them; the model would otherwise return NaN anomaly maps."
    )


def check_images(images: torch.Tensor, paths: Sequence[str] | None = None) -> None:
    """Both input checks every entry point needs: an RGB batch without NaN/Inf pixels."""
    check_rgb(images)
    check_finite(images, paths)


HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
EXIF_ORIENTATION = 0x0112
FIX_IMAGES = "anomalib-kd data fix-images SRC DST"


@dataclass
class FileReport:
    """What :func:`inspect_files` found: unreadable files, 16-bit/float files, files with an EXIF orientation."""

    unreadable: list[str] = field(default_factory=list)
    high_bit: list[str] = field(default_factory=list)
    rotated: dict[str, int] = field(default_factory=dict)


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag of an image file (1, upright, when it has none)."""
    from PIL import Image

    with Image.open(path) as image:
        return int(image.getexif().get(EXIF_ORIENTATION, 1))


def inspect_files(paths: Sequence[str]) -> FileReport:
    """Open and decode every file; note what PIL cannot read, what anomalib's reader would clip, what is rotated."""
    from PIL import Image

    report = FileReport()
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                mode, orientation = image.mode, int(image.getexif().get(EXIF_ORIENTATION, 1))
        except Exception as exc:  # PIL raises many types for bad files
            report.unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
            continue
        if mode in HIGH_BIT_MODES:
            report.high_bit.append(f"{path} (mode {mode})")
        if orientation != 1:
            report.rotated[str(path)] = orientation
    return report


def check_files(
    paths: Sequence[str], split: str, masks: Sequence[str | None] | None = None, nothing_done: str = "trained"
) -> None:
    """Refuse unreadable and 16-bit/float files, and images whose EXIF orientation their masks lack; warn on the rest.

    anomalib's ``read_image`` is ``PIL.Image.open(path).convert("RGB")``: it clips 16-bit and float pixels (every
    image turns white) and ignores EXIF orientation (images and masks are used as stored). Both are silent, so they
    are caught here, before the first step, with the files named and the fix.
    """
    report = inspect_files(paths)
    head = f"of {len(paths)} {split} image(s)"
    if report.unreadable:
        raise ValueError(
            f"{len(report.unreadable)} {head} cannot be read: {report.unreadable[:MAX_LISTED]}. Replace or delete "
            f"these files (nothing has been {nothing_done} yet), then run again."
        )
    if report.high_bit:
        raise ValueError(
            f"{len(report.high_bit)} {head} are 16-bit or floating point: {report.high_bit[:MAX_LISTED]}. anomalib "
            "reads images with PIL's convert('RGB'), which clips such pixels: every image would turn white and the "
            f"model would learn nothing (nothing has been {nothing_done} yet). Write 8-bit copies, scaled from the "
            f"full 16-bit range (value / 65535, as cv2.IMREAD_UNCHANGED would read them), with `{FIX_IMAGES}`; the "
            "originals stay as they are. Then point the data at DST."
        )
    if not report.rotated:
        return
    mask_of = dict(zip(paths, masks, strict=True)) if masks is not None else {}
    disagree, notes = [], []
    for path, orientation in report.rotated.items():
        mask = mask_of.get(path)
        mask_orientation = exif_orientation(mask) if mask else None
        if mask and mask_orientation != orientation:
            disagree.append(f"{path} (orientation {orientation}; mask {mask} has {mask_orientation})")
        else:
            notes.append(f"{path} (orientation {orientation}; {'mask rotated to match' if mask else 'no mask'})")
    if disagree:
        raise ValueError(
            f"{len(disagree)} {head} carry an EXIF orientation that their masks do not: {disagree[:MAX_LISTED]}. "
            "anomalib reads images and masks as stored, ignoring EXIF, so a mask drawn on the upright view does not "
            f"match its image (nothing has been {nothing_done} yet). Write upright copies of images and masks with "
            f"`{FIX_IMAGES}`; if the masks were drawn on the stored pixels instead, drop the images' tags with "
            f"`{FIX_IMAGES} --exif strip`."
        )
    logger.warning(
        "%d %s carry an EXIF orientation and are used as stored (unrotated: anomalib ignores EXIF): %s. Images and "
        "masks agree; to train on the upright view, write rotated copies with `%s`.",
        len(notes),
        head,
        notes[:MAX_LISTED],
        FIX_IMAGES,
    )


def check_dataset(dataset: object, split: str) -> None:
    """Fail before training when a split is empty or holds files anomalib would misread; nothing is lost or trained."""
    samples = getattr(dataset, "samples", None)
    if samples is None or "image_path" not in getattr(samples, "columns", ()):
        return
    places = (getattr(dataset, a, None) for a in ("root_category", "normal_dir", "root"))
    root = next((p for p in places if p), "the dataset root")
    if len(samples) == 0:
        raise ValueError(
            f"The {split} set is empty: no images were found under {root}. Put normal images (.png/.jpg/...) in the "
            "training folder (MVTec layout: CATEGORY/train/good/; Folder: normal_dir), then run again."
        )
    masks = list(samples["mask_path"]) if "mask_path" in samples.columns else None
    check_files(list(samples["image_path"]), split, masks)


def dataloader_paths(dataloader: object) -> list[str]:
    """The image files a dataloader will read: anomalib's ``PredictDataset`` or any dataset with ``samples``."""
    dataset = getattr(dataloader, "dataset", None)
    if hasattr(dataset, "image_filenames"):
        return [str(p) for p in dataset.image_filenames]
    samples = getattr(dataset, "samples", None)
    if samples is not None and "image_path" in getattr(samples, "columns", ()):
        return [str(p) for p in samples["image_path"]]
    return []


def mvtec_missing_masks(root: str | Path, category: str) -> list[str]:
    """Anomalous test images of an MVTec-layout category without a ``ground_truth`` mask, and masks without image.

    anomalib's builder pairs them by sorted position, so one missing file fails deep in pandas ("Must have equal len
    keys and value when setting with an iterable"); this names the file instead.
    """
    from anomalib.data.datasets.image.mvtecad import IMG_EXTENSIONS

    base = Path(root) / category
    if not (base / "test").is_dir() or not (base / "ground_truth").is_dir():
        return []
    problems = []
    for folder in sorted(p for p in (base / "test").iterdir() if p.is_dir() and p.name != "good"):
        images = sorted(p for p in folder.iterdir() if p.suffix in IMG_EXTENSIONS)
        gt = base / "ground_truth" / folder.name
        masks = sorted(p for p in gt.iterdir() if p.suffix in IMG_EXTENSIONS) if gt.is_dir() else []
        stems = {m.stem for m in masks}
        problems += [f"{p} (no mask in {gt})" for p in images if p.stem not in stems and f"{p.stem}_mask" not in stems]
        image_stems = {p.stem for p in images}
        problems += [f"{m} (no image in {folder})" for m in masks if m.stem.removesuffix("_mask") not in image_stems]
    return problems


def check_mvtec_layout(datamodule: object) -> None:
    """Name the anomalous test images without masks before anomalib's builder fails on them."""
    root, category = getattr(datamodule, "root", None), getattr(datamodule, "category", None)
    if not root or not category:
        return
    problems = mvtec_missing_masks(root, category)
    if problems:
        raise ValueError(
            f"{len(problems)} file(s) of {Path(root) / category} have no partner in the MVTec layout: "
            f"{problems[:MAX_LISTED]}. Each test/DEFECT/NAME image needs ground_truth/DEFECT/NAME_mask.png (or "
            "NAME.png): add the missing masks, or move those images out of test/ (nothing has been trained yet)."
        )


def datamodule_splits(datamodule: object, stage: str | None) -> list[tuple[str, object]]:
    """The (name, dataset) pairs a Lightning stage will read."""
    names = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ()}.get(stage or "", ())
    splits = [(name, getattr(datamodule, f"{name}_data", None)) for name in names]
    return [(name, data) for name, data in splits if data is not None]
