"""Label-preserving views of the normal training images, for a student that learns 60 images by heart.

A student distilled on a few dozen normal images matches the teacher on those images and much less on other normal
images of the same surface: on the demo suite its 1 − cos(T, S) on good test images is about twice that on its own
training images (docs/experiments/2026-12-04-round12.md). Flips and quarter turns of a texture or of a top-down photo
are normal images too, so they widen what the student sees without a single new photograph.

``train_augment`` (both models): ``"none"`` (the papers: the images as loaded), ``"flip"`` (random horizontal and
vertical flips), ``"dihedral"`` (the flips and a random quarter turn: the eight symmetries of the square) or
``"dihedral+zoom"`` (a dihedral view, then for half the images a random square crop of 80-100 % of the side resized
back to the full side: the surface up to 1.25× closer, and a feature grid that falls elsewhere on it). The views
are drawn per image with kornia's augmentations, on the batch, before any synthetic anomaly is drawn, so the
teacher, the student and the segmentation head all see the same view. Not the papers': a CPU-recipe option.

Example:
    >>> import torch
    >>> augment = NormalViews("dihedral")
    >>> augment(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 3, 32, 32])
    >>> NormalViews("none").active
    False
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from .options import check_choice

TrainAugment = Literal["none", "flip", "dihedral", "dihedral+zoom"]
TRAIN_AUGMENTS: tuple[str, ...] = get_args(TrainAugment)


class NormalViews:
    """Random flips (``"flip"``), quarter turns (``"dihedral"``) and zooms (``"dihedral+zoom"``) of a (B, C, H, W)
    batch; identity for ``"none"``.

    Quarter turns need square images (anomalib's ``image_size`` is usually square); a non-square batch is refused
    with the fix rather than silently rotated into another shape. A plain callable, not a module: it holds no
    weights, so checkpoints and exports are the same with and without it.
    """

    def __init__(self, mode: TrainAugment = "none") -> None:
        check_choice("train_augment", mode, TRAIN_AUGMENTS)
        self.mode = mode
        import kornia.augmentation as K

        views: list[nn.Module] = []
        if mode != "none":
            views += [K.RandomHorizontalFlip(p=0.5), K.RandomVerticalFlip(p=0.5)]
        if mode.startswith("dihedral"):
            views.append(K.RandomRotation90(times=(0, 3), p=1.0))
        self.zoom = mode.endswith("+zoom")
        self.zooms: dict[tuple[int, int], nn.Module] = {}  # one crop module per image size, made on first use
        self.views = nn.Sequential(*views)

    @property
    def active(self) -> bool:
        """Whether this changes any image."""
        return self.mode != "none"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """One random view per image (the batch unchanged for ``"none"``)."""
        if not self.active:
            return images
        if self.mode.startswith("dihedral") and images.shape[-1] != images.shape[-2]:
            raise ValueError(
                f"train_augment={self.mode!r} turns images by quarter turns, which needs square images; got "
                f"{tuple(images.shape[-2:])}. Resize to a square image_size, or use train_augment='flip'"
            )
        views = self.views(images)
        if self.zoom:
            # kornia draws this op's p once per batch, so the half that is zoomed is drawn here, per image
            closer = torch.rand(len(views), device=views.device) < 0.5
            views = torch.where(closer[:, None, None, None], self.zoom_crop(views.shape[-2:])(views), views)
        return views

    def zoom_crop(self, size: tuple[int, int]) -> nn.Module:
        """The zoom's random square crop back to ``size``: scale is the crop's share of the area, 0.64-1 being
        80-100 % of the side; ratio 1 keeps it square."""
        size = tuple(size)
        if size not in self.zooms:
            import kornia.augmentation as K

            self.zooms[size] = K.RandomResizedCrop(size, scale=(0.64, 1.0), ratio=(1.0, 1.0), p=1.0)
        return self.zooms[size]
