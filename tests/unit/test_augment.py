"""The normal training views (``train_augment``): each output is a symmetry of its input, and every symmetry occurs."""

from __future__ import annotations

import pytest
import torch

from anomalib_kd_plugins.components.augment import TRAIN_AUGMENTS, NormalViews


def _symmetries(image: torch.Tensor, turns: bool) -> list[torch.Tensor]:
    flips = [image, image.flip(-1), image.flip(-2), image.flip(-1, -2)]
    if not turns:
        return flips
    return [torch.rot90(f, t, dims=(-2, -1)) for f in flips for t in range(4)]


@pytest.mark.parametrize(("mode", "count"), [("flip", 4), ("dihedral", 8)])
def test_each_view_is_a_symmetry_of_its_image_and_all_of_them_occur(mode: str, count: int) -> None:
    torch.manual_seed(0)
    images = torch.rand(1, 3, 16, 16).expand(256, 3, 16, 16).contiguous()
    views = NormalViews(mode)(images)
    candidates = _symmetries(images[0], turns=mode == "dihedral")
    seen = set()
    for view in views:
        matches = [i for i, c in enumerate(candidates) if torch.allclose(view, c, atol=1e-4)]
        assert matches, "a view that is no flip or quarter turn of its image"
        seen.add(next(iter(matches)))
    distinct = {tuple(c.flatten()[:8].tolist()) for c in candidates}
    assert len(distinct) == count and len(seen) == count  # (1 − 1/8)^256: a missing symmetry is not chance


def test_zoom_shows_half_the_views_closer_by_up_to_a_quarter() -> None:
    """On a ramp along one axis a view's span is the share of the side it shows: 1 unzoomed, 0.8-1 zoomed."""
    torch.manual_seed(0)
    ramp = torch.linspace(0, 1, 64).expand(64, 64)
    images = ramp.expand(400, 3, 64, 64).contiguous()
    views = NormalViews("dihedral+zoom")(images)
    spans = views.flatten(1).amax(1) - views.flatten(1).amin(1)
    unzoomed = spans > 0.999
    assert 0.4 < unzoomed.float().mean() < 0.6  # p = 0.5, 400 draws
    zoomed = spans[~unzoomed]
    assert zoomed.min() > 0.76 and zoomed.max() < 0.999 and zoomed.std() > 0.03  # crops of 80-100 % of the side
    plain = NormalViews("dihedral")(images)
    assert (plain.flatten(1).amax(1) - plain.flatten(1).amin(1)).min() > 0.999  # no zoom without the option


def test_none_returns_the_batch_itself() -> None:
    images = torch.rand(2, 3, 8, 8)
    assert NormalViews("none")(images) is images and not NormalViews("none").active


def test_bad_choices_and_non_square_turns_are_refused_with_the_fix() -> None:
    assert set(TRAIN_AUGMENTS) == {"none", "flip", "dihedral", "dihedral+zoom"}
    with pytest.raises(ValueError, match="train_augment must be one of"):
        NormalViews("rotate")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="square image_size, or use train_augment='flip'"):
        NormalViews("dihedral")(torch.rand(2, 3, 8, 12))
    with pytest.raises(ValueError, match="square image_size"):
        NormalViews("dihedral+zoom")(torch.rand(2, 3, 8, 12))
    assert NormalViews("flip")(torch.rand(2, 3, 8, 12)).shape == (2, 3, 8, 12)


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_the_option_adds_no_weights_to_the_checkpoint(name: str) -> None:
    from helpers import tiny_model

    plain, augmented = tiny_model(name), tiny_model(name, train_augment="dihedral")
    assert augmented.augment.active and not plain.augment.active
    assert set(plain.state_dict()) == set(augmented.state_dict())  # checkpoints load either way


def test_dmdd_head_scope_shows_the_views_to_the_segmentation_phase_alone() -> None:
    """``train_augment_scope="head"``: the student's phases keep the images as loaded, the head's phase turns them."""
    from helpers import tiny_model

    torch.manual_seed(0)
    images = torch.rand(64, 3, 16, 16)
    head, every = (tiny_model("Dmdd", train_augment="dihedral", train_augment_scope=s) for s in ("head", "all"))
    assert head.normal_views(images, "student") is images
    turned = head.normal_views(images, "segmentation")
    assert not torch.equal(turned, images) and torch.allclose(turned.sum((1, 2, 3)), images.sum((1, 2, 3)))
    assert not torch.equal(every.normal_views(images, "student"), images)
    with pytest.raises(ValueError, match=r"schedule='joint' has no such phase\. Use schedule='two_phase'"):
        tiny_model("Dmdd", train_augment="dihedral", train_augment_scope="head", schedule="joint")
    with pytest.raises(ValueError, match="train_augment_scope must be one of"):
        tiny_model("Dmdd", train_augment_scope="student")
