"""Input checks with errors that name the problem and the fix (bad input must never turn into NaN maps)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

MAX_LISTED = 10


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


def unreadable_images(paths: Sequence[str]) -> list[str]:
    """Files among ``paths`` that PIL cannot open and decode (truncated, corrupt, not an image)."""
    from PIL import Image

    bad = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except Exception as exc:  # PIL raises many types for bad files
            bad.append(f"{path} ({type(exc).__name__}: {exc})")
    return bad


def check_dataset(dataset: object, split: str) -> None:
    """Fail before training when a split is empty or holds unreadable files; nothing is lost, nothing is trained."""
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
    bad = unreadable_images(list(samples["image_path"]))
    if bad:
        raise ValueError(
            f"{len(bad)} of {len(samples)} {split} image(s) cannot be read: {bad[:MAX_LISTED]}. Replace or delete "
            "these files (nothing has been trained yet), then run again."
        )


def datamodule_splits(datamodule: object, stage: str | None) -> list[tuple[str, object]]:
    """The (name, dataset) pairs a Lightning stage will read."""
    names = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ()}.get(stage or "", ())
    splits = [(name, getattr(datamodule, f"{name}_data", None)) for name in names]
    return [(name, data) for name, data in splits if data is not None]
