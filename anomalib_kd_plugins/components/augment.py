"""Label-preserving views of the normal training images, for a student that learns 60 images by heart.

A student distilled on a few dozen normal images matches the teacher on those images and much less on other normal
images of the same surface: on the demo suite its 1 − cos(T, S) on good test images is about twice that on its own
training images (docs/experiments/2026-12-04-round12.md). Flips and quarter turns of a texture or of a top-down photo
are normal images too, so they widen what the student sees without a single new photograph.

``train_augment`` (both models): ``"none"`` (the papers: the images as loaded), ``"flip"`` (random horizontal and
vertical flips) or ``"dihedral"`` (the flips and a random quarter turn: the eight symmetries of the square). The views
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

TrainAugment = Literal["none", "flip", "dihedral"]
TRAIN_AUGMENTS: tuple[str, ...] = get_args(TrainAugment)


class NormalViews:
    """Random flips (``"flip"``) and quarter turns (``"dihedral"``) of a (B, C, H, W) batch; identity for ``"none"``.

    Quarter turns need square images (anomalib's ``image_size`` is usually square); a non-square batch is refused
    with the fix rather than silently rotated into another shape. A plain callable, not a module: it holds no
    weights, so checkpoints and exports are the same with and without it.
    """

    def __init__(self, mode: TrainAugment = "none") -> None:
        check_choice("train_augment", mode, TRAIN_AUGMENTS)
        self.mode = mode
        import kornia.augmentation as K

        views: list[nn.Module] = []
        if mode in ("flip", "dihedral"):
            views += [K.RandomHorizontalFlip(p=0.5), K.RandomVerticalFlip(p=0.5)]
        if mode == "dihedral":
            views.append(K.RandomRotation90(times=(0, 3), p=1.0))
        self.views = nn.Sequential(*views)

    @property
    def active(self) -> bool:
        """Whether this changes any image."""
        return self.mode != "none"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """One random view per image (the batch unchanged for ``"none"``)."""
        if not self.active:
            return images
        if self.mode == "dihedral" and images.shape[-1] != images.shape[-2]:
            raise ValueError(
                f"train_augment='dihedral' turns images by quarter turns, which needs square images; got "
                f"{tuple(images.shape[-2:])}. Resize to a square image_size, or use train_augment='flip'"
            )
        return self.views(images)
