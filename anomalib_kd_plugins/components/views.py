"""Test-time views of the KD map (both models): the distillation map averaged over symmetric views of the test image.

``kd_views`` says which views: ``"none"`` (the papers: the image as given), ``"flip"`` (the image and its horizontal
mirror), ``"flips"`` (the four symmetries that keep rows as rows: the image, both mirrors and the half turn) or
``"dihedral"`` (all eight symmetries of the square, quarter turns included). Each view goes through the teacher and
the student, its KD map (``kd_pool`` and its border as set) is turned back, and the views' maps are averaged.

Why: a student distilled on a few dozen images errs on unseen normal images position by position, and where it errs
depends on how the surface lies on its feature grid; a defect is part of the surface and turns with it. The average
over views keeps the defect and cancels much of the error, as ``kd_pool``'s average over neighbourhoods does
(components/fusion.py). Measured on trained checkpoints, inference only: docs/experiments/2026-12-07-round26.md.

Only the KD map is averaged; the segmentation head's map stays that of the image as given (the head has learned the
synthetic anomalies in the images' own orientation, and averaging its map too did not help the fused map's mean).
The fusion's statistics come from the same averaged map, since ``calibrate_map_fusion`` reads the models' ``maps``.
The learning curves read the single-view map: it is what training distils, and the curves' cost stays that of one
view. Every extra view costs one more pass of the teacher and the student (not of the head); views that keep the
image's shape go through in one batch, those that swap height and width (the quarter turns) in a second. Quarter
turns of a non-square image are turned back to its shape, so every choice takes any input size the model takes.
Flips and transposes only: the views export to ONNX and OpenVINO with the rest of the graph. Not the papers': a
CPU-recipe option.

Example:
    >>> import torch
    >>> images = torch.rand(2, 3, 8, 8)
    >>> kd_of = lambda x: x.mean(1, keepdim=True)  # a map that turns with its image
    >>> torch.allclose(view_mean(kd_of(images), images, kd_of, "dihedral"), kd_of(images))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch

from .options import check_choice

KdViews = Literal["none", "flip", "flips", "dihedral"]
KD_VIEWS: tuple[str, ...] = get_args(KdViews)
# every view beyond the image itself: (quarter turns, mirrored before turning)
EXTRA_VIEWS: dict[str, tuple[tuple[int, bool], ...]] = {
    "none": (),
    "flip": ((0, True),),
    "flips": ((0, True), (2, True), (2, False)),
    "dihedral": ((1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True)),
}


def check_kd_views(kd_views: KdViews) -> None:
    """Refuse a ``kd_views`` that is not one of its choices, naming them."""
    check_choice("kd_views", kd_views, KD_VIEWS)


def turn(x: torch.Tensor, k: int) -> torch.Tensor:
    """``torch.rot90(x, k, (-2, -1))`` written with flips and a transpose (ops every exporter knows)."""
    k %= 4
    if k == 1:
        return x.transpose(-2, -1).flip(-2)
    if k == 2:
        return x.flip(-2).flip(-1)
    if k == 3:
        return x.transpose(-2, -1).flip(-1)
    return x


def view(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    """The view (k quarter turns, after a horizontal mirror when ``mirror``) of a (…, H, W) tensor."""
    return turn(x.flip(-1) if mirror else x, k)


def unview(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    """The inverse of ``view``: a map of the view, back in the image's orientation."""
    x = turn(x, -k)
    return x.flip(-1) if mirror else x


def view_mean(
    kd: torch.Tensor, images: torch.Tensor, kd_of: Callable[[torch.Tensor], torch.Tensor], kd_views: KdViews
) -> torch.Tensor:
    """The mean of ``kd`` (the KD map of ``images`` as given, (B,1,H,W)) and ``kd_of``'s maps of the other views of
    ``images`` that ``kd_views`` names, each turned back; ``kd`` itself for ``"none"``."""
    extra = EXTRA_VIEWS[kd_views]
    if not extra:
        return kd
    total = kd
    for swaps in (False, True):  # views that keep H×W in one batch, the quarter turns (W×H) in another
        group = [v for v in extra if v[0] % 2 == swaps]
        if not group:
            continue
        # (views × B) images in one pass; the views' axis by its constant length, so an export keeps B dynamic
        maps = kd_of(torch.stack([view(images, *v) for v in group]).flatten(0, 1)).unflatten(0, (len(group), -1))
        for i, v in enumerate(group):
            total = total + unview(maps[i], *v)
    return total / (len(extra) + 1)


class KdViewsMixin:
    """What both torch models share of ``kd_views``: the model sets ``self.kd_views`` and defines
    ``kd_map_of(images)``, the KD map of ``images`` alone (no head) at their size."""

    kd_views: KdViews
    kd_map_of: Callable[[torch.Tensor], torch.Tensor]

    def views_kd_map(self, kd: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``kd``, the KD map of ``images``, averaged with those of their other views (``kd_views``)."""
        return view_mean(kd, images, self.kd_map_of, self.kd_views)

    def with_views(
        self, maps: tuple[torch.Tensor | None, torch.Tensor | None], images: torch.Tensor, views: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``maps`` (segmentation map, KD map of ``images``) with the KD map averaged over the views, unless there is
        none or ``views=False`` (the learning curves: the single view that training distils)."""
        seg_map, kd_map = maps
        if kd_map is None or not views:
            return seg_map, kd_map
        return seg_map, self.views_kd_map(kd_map, images)
