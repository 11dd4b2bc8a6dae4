"""The normal training views (``train_augment``): each output is a symmetry of its input, and every symmetry occurs."""

from __future__ import annotations

from typing import Any

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


def test_dmdd_pairs_show_the_head_each_normal_image_with_an_empty_mask(tiny_root, tmp_path) -> None:
    """``seg_inputs="pairs"``: the head's batch is I_a then I_n, with the synthetic mask then an all-zero one, the
    student's features of I_n taken without gradients; a fit with it trains the head on twice the images."""
    from helpers import tiny_datamodule, tiny_engine, tiny_model

    torch.manual_seed(0)
    model = tiny_model("Dmdd", seg_inputs="pairs")
    normal, anomalous = torch.rand(2, 3, 3, 64, 64).unbind()
    mask = (torch.rand(3, 1, 64, 64) > 0.5).float()
    with torch.no_grad():  # the training step detaches the student's features of I_a
        features = model.model.features(anomalous)
    teacher_normal = model.model.teacher_features(normal)
    both, targets = model.with_normal_images(features, teacher_normal, normal, mask)
    assert torch.equal(targets[:3], mask) and not targets[3:].any()
    normality, abnormality = model.model.student_features(normal)
    for level, feature in enumerate(features.normality):
        assert torch.equal(both.normality[level][:3], feature)
        assert torch.allclose(both.normality[level][3:], normality[level])
        assert torch.allclose(both.abnormality[level][3:], abnormality[level])
        assert torch.equal(both.teacher[level][3:], teacher_normal[level])
        assert not both.normality[level][3:].requires_grad

    seen: list[torch.Tensor] = []
    segmentation = model.loss.segmentation
    model.loss.segmentation = lambda prediction, target: seen.append(target) or segmentation(prediction, target)
    tiny_engine(tmp_path, max_epochs=1).fit(model, datamodule=tiny_datamodule(tiny_root))
    assert seen and all(len(t) % 2 == 0 and not t[len(t) // 2 :].any() for t in seen)
    with pytest.raises(ValueError, match="seg_inputs must be one of"):
        tiny_model("Dmdd", seg_inputs="normal")


def test_dmdd_student_pairs_distil_each_normal_image_as_a_pair_with_an_empty_mask(tiny_root, tmp_path) -> None:
    """``student_inputs="pairs"``: the student's steps distil I_a then I_n (an all-zero mask, T(I_n) the target of
    both terms); the head still trains on I_a alone."""
    from helpers import tiny_datamodule, tiny_engine, tiny_model

    torch.manual_seed(0)
    model = tiny_model("Dmdd", student_inputs="pairs")
    kd_calls: list[tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]] = []
    head_masks: list[torch.Tensor] = []
    distillation, segmentation = model.loss.distillation, model.loss.segmentation

    def spy_distillation(teacher_normal, target, normality, abnormality, mask):
        kd_calls.append((teacher_normal, target, mask))
        assert len(normality[0]) == len(abnormality[0]) == len(mask)
        return distillation(teacher_normal, target, normality, abnormality, mask)

    model.loss.distillation = spy_distillation
    model.loss.segmentation = lambda prediction, target: head_masks.append(target) or segmentation(prediction, target)
    tiny_engine(tmp_path, max_epochs=1).fit(model, datamodule=tiny_datamodule(tiny_root))
    assert kd_calls and head_masks
    for teacher_normal, target, mask in kd_calls:
        half = len(mask) // 2
        assert mask[:half].any() and not mask[half:].any()
        for level, t in enumerate(teacher_normal):
            assert torch.equal(t[:half], t[half:])  # T(I_n) against F(I_a) and against F(I_n)
            assert torch.equal(target[level][half:], t[half:])  # AIM's target for I_n is T(I_n)
    batch = len(kd_calls[0][2]) // 2
    assert all(len(m) == batch for m in head_masks)  # the head's batch: I_a alone


def test_dmdd_student_halves_show_the_student_half_its_pairs_clean_at_the_steps_batch(tiny_root, tmp_path) -> None:
    """``student_inputs="halves"``: a student step distils the first half's I_a and the second half's I_n (its mask
    empty, T(I_n) the target of both terms), in a batch no larger than the step's; joint training is refused."""
    from helpers import tiny_datamodule, tiny_engine, tiny_model

    torch.manual_seed(0)
    model = tiny_model("Dmdd", student_inputs="halves")
    steps: list[dict[str, Any]] = []
    synthesize, student_features = model.synthesize, model.model.student_features
    distillation = model.loss.distillation

    def spy_synthesize(batch, images=None):
        anomalous, mask = synthesize(batch, images)
        steps.append({"normal": images, "anomalous": anomalous})
        return anomalous, mask

    def spy_student(images):
        if steps:
            steps[-1].setdefault("student", images)  # the step's own call comes first
        return student_features(images)

    def spy_distillation(teacher_normal, target, normality, abnormality, mask):
        steps[-1]["kd"] = (teacher_normal, target, mask)
        return distillation(teacher_normal, target, normality, abnormality, mask)

    model.synthesize, model.model.student_features = spy_synthesize, spy_student
    model.loss.distillation = spy_distillation
    tiny_engine(tmp_path, max_epochs=1).fit(model, datamodule=tiny_datamodule(tiny_root))
    student_steps = [step for step in steps if "kd" in step]
    assert student_steps and len(student_steps) < len(steps)  # a student phase, then the head's
    for step in student_steps:
        normal, anomalous, images = step["normal"], step["anomalous"], step["student"]
        teacher_normal, target, mask = step["kd"]
        half = len(normal) // 2
        assert len(images) == len(mask) == len(normal)
        assert torch.equal(images[:half], anomalous[:half]) and torch.equal(images[half:], normal[half:])
        assert mask[:half].any() and not mask[half:].any()
        for level, t in enumerate(teacher_normal):
            assert torch.equal(target[level][half:], t[half:])  # AIM's target for I_n is T(I_n)
    with pytest.raises(ValueError, match="two_phase"):
        tiny_model("Dmdd", student_inputs="halves", schedule="joint")
