"""The KD signal in the map (components/fusion.py): the standardised sum, and the neighbourhood-averaged KD map."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_model

from anomalib_kd_plugins.components.fusion import FusedMap, calibration_views, level_distances


def _cosine_distance(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return 1 - torch.nn.functional.cosine_similarity(t, s, dim=1)


def test_pool_1_is_the_per_position_cosine_and_pool_3_the_cosine_of_neighbourhood_means() -> None:
    torch.manual_seed(0)
    teacher = [torch.randn(2, 8, 6, 5), torch.randn(2, 16, 3, 3)]
    student = [torch.randn(2, 8, 6, 5), torch.randn(2, 16, 3, 3)]
    plain = level_distances(teacher, student)
    for d, t, s in zip(plain, teacher, student, strict=True):
        torch.testing.assert_close(d[:, 0], _cosine_distance(t, s))
    pooled = level_distances(teacher, student, pool=3, border="inside")
    assert [d.shape for d in pooled] == [d.shape for d in plain]  # every level keeps its size
    t, s = teacher[0], student[0]
    # an inside position averages its 3×3 neighbourhood; a corner only the 2×2 positions inside the map
    for (y, x), (ys, xs) in (((2, 3), (slice(1, 4), slice(2, 5))), ((0, 0), (slice(0, 2), slice(0, 2)))):
        mean_t, mean_s = t[:, :, ys, xs].mean((2, 3)), s[:, :, ys, xs].mean((2, 3))
        torch.testing.assert_close(pooled[0][:, 0, y, x], _cosine_distance(mean_t, mean_s))


def test_a_coherent_defect_stands_out_of_scattered_errors_only_after_pooling() -> None:
    """kd_pool's mechanism: a student's errors at single positions cancel in the neighbourhood average, a deviation
    shared by a whole patch (a defect) does not."""
    from torchmetrics.functional.classification import binary_auroc

    torch.manual_seed(1)
    teacher = torch.randn(1, 32, 24, 24) + 1.0
    student = teacher + torch.randn_like(teacher)  # errs position by position everywhere
    student[:, :, 8:16, 8:16] += 1.5 * torch.randn(1, 32, 1, 1)  # and the same way over an 8×8 patch
    defect = torch.zeros(1, 1, 24, 24, dtype=torch.long)
    defect[..., 8:16, 8:16] = 1

    def auroc(pool: int) -> float:
        return float(binary_auroc(level_distances([teacher], [student], pool)[0].flatten(), defect.flatten()))

    assert auroc(1) < 0.95 and auroc(3) > 0.99


def test_scaled_border_multiplies_each_position_by_the_share_of_its_neighbourhood_inside_the_map() -> None:
    torch.manual_seed(0)
    teacher, student = [torch.randn(2, 8, 6, 5)], [torch.randn(2, 8, 6, 5)]
    inside = level_distances(teacher, student, pool=3, border="inside")[0]
    scaled = level_distances(teacher, student, pool=3, border="scaled")[0]
    share = torch.ones(6, 5)
    share[[0, -1], :] *= 2 / 3
    share[:, [0, -1]] *= 2 / 3  # a corner keeps 4 of 9, an edge 6 of 9, an inside position all 9
    torch.testing.assert_close(scaled, inside * share)
    torch.testing.assert_close(
        level_distances(teacher, student, border="scaled")[0], _cosine_distance(*teacher, *student)[:, None]
    )


def test_scaling_the_border_levels_the_pooled_map_of_a_student_that_errs_everywhere_alike() -> None:
    """kd_pool_border's mechanism: an n-average cancels less of independent errors where n < 9 (the border), so the
    ``"inside"`` map of a defect-free image is highest at the border; the share brings the border to the inside's
    level."""
    torch.manual_seed(2)
    teacher = torch.randn(64, 32, 8, 8) + 1.0
    student = teacher + torch.randn_like(teacher)
    ring = torch.ones(8, 8, dtype=torch.bool)
    ring[1:-1, 1:-1] = False

    def border_over_inside(border: str) -> float:
        d = level_distances([teacher], [student], 3, border)[0].mean(0)[0]  # type: ignore[arg-type]
        return float(d[ring].mean() / d[~ring].mean())

    assert border_over_inside("inside") > 1.3
    assert abs(border_over_inside("scaled") - 1) < 0.1


@pytest.mark.parametrize("bad", ["edge", None])
def test_kd_pool_border_must_be_one_of_its_choices(bad: object) -> None:
    with pytest.raises(ValueError, match=r"kd_pool_border must be one of \('inside', 'scaled'\)"):
        FusedMap("seg+kd", kd_pool=3, kd_pool_border=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 2, -3, 1.0, "3"])
def test_kd_pool_must_be_an_odd_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match=r"kd_pool must be an odd positive integer.*per-position"):
        FusedMap("seg+kd", kd_pool=bad)  # type: ignore[arg-type]


def test_seg_plus_kd_adds_the_two_maps_standardised_on_their_calibration() -> None:
    torch.manual_seed(0)
    fuse = FusedMap("seg+kd")
    seg_train, kd_train = torch.rand(4, 1, 8, 8), 0.1 * torch.rand(4, 1, 8, 8)
    fuse.calibrate(seg_train, kd_train)
    seg, kd = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    expected = (seg - seg_train.mean()) / seg_train.std() + (kd - kd_train.mean()) / kd_train.std()
    torch.testing.assert_close(fuse(seg, kd), expected)
    assert "stats" in fuse.state_dict()  # travels in checkpoints and exports
    torch.testing.assert_close(FusedMap("seg")(seg, kd), seg)


def test_peak_scale_divides_each_map_by_its_training_images_mean_maximum_above_its_mean() -> None:
    torch.manual_seed(0)
    fuse = FusedMap("seg+kd", map_fusion_scale="peak")
    seg_train, kd_train = torch.rand(4, 1, 8, 8), 0.1 * torch.rand(4, 1, 8, 8)
    fuse.calibrate(seg_train, kd_train)
    seg, kd = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    expected = sum(
        (x - train.mean()) / (train.flatten(1).amax(1).mean() - train.mean())
        for x, train in ((seg, seg_train), (kd, kd_train))
    )
    torch.testing.assert_close(fuse(seg, kd), expected)


def test_peak_scale_keeps_a_head_that_is_flat_on_clean_images_from_outweighing_the_kd_map() -> None:
    """map_fusion_scale's mechanism: a head whose clean-image output is almost constant, with rare spikes, has a tiny
    std, so under ``"std"`` its map dominates the sum; ``"peak"`` gives both maps' normal maxima the same size."""
    torch.manual_seed(3)
    seg_train = 1e-3 * torch.rand(32, 1, 16, 16)
    seg_train[:, :, 0, 0] = 0.05  # each clean image's one spurious spike
    kd_train = 0.1 + 0.05 * torch.rand(32, 1, 16, 16)
    seg, kd = torch.zeros(1, 1, 16, 16), torch.full((1, 1, 16, 16), 0.1)
    seg[..., 2, 2] = 0.05  # the head fires as on clean images
    kd[..., 9, 9] = 0.3  # the KD map sees a defect, twice its normal maximum (0.15)
    shares = {}
    for scale in ("std", "peak"):
        fuse = FusedMap("seg+kd", map_fusion_scale=scale)  # type: ignore[arg-type]
        fuse.calibrate(seg_train, kd_train)
        fused = fuse(seg, kd)
        shares[scale] = float(fused[..., 9, 9] - fused[..., 2, 2])
    assert shares["std"] < 0 < shares["peak"]  # std: the head's spike ranks above the defect; peak: the defect wins


@pytest.mark.parametrize("bad", ["max", None])
def test_map_fusion_scale_must_be_one_of_its_choices(bad: object) -> None:
    with pytest.raises(ValueError, match=r"map_fusion_scale must be one of \('std', 'peak'\)"):
        FusedMap("seg+kd", map_fusion_scale=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_both_models_pass_map_fusion_scale_to_their_fusion(name: str) -> None:
    fusion = tiny_model(name, map_fusion="seg+kd", map_fusion_scale="peak").model.anomaly_map_generator.fusion
    assert fusion.map_fusion_scale == "peak"


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_both_models_read_their_kd_map_through_kd_pool(name: str) -> None:
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    plain = tiny_model(name, map_fusion="seg+kd").model.eval()
    pooled = tiny_model(name, map_fusion="seg+kd", kd_pool=3).model.eval()
    pooled.load_state_dict(plain.state_dict())  # the same weights: kd_pool adds none
    with torch.no_grad():
        if name == "Adps":
            teacher, student = plain.teacher_student_features(images)
        else:
            features = plain.features(images)
            teacher, student = features.teacher, features.normality
        seg_plain, kd_plain = plain.maps(images)
        seg_pooled, kd_pooled = pooled.maps(images)
    torch.testing.assert_close(seg_pooled, seg_plain)  # the head's map does not depend on it
    up = [torch.nn.functional.interpolate(d, size=(64, 64), mode="bilinear") for d in level_distances(teacher, student)]
    torch.testing.assert_close(kd_plain, torch.stack(up).mean(0))
    up = [
        torch.nn.functional.interpolate(d, size=(64, 64), mode="bilinear") for d in level_distances(teacher, student, 3)
    ]
    torch.testing.assert_close(kd_pooled, torch.stack(up).mean(0))
    assert not torch.allclose(kd_pooled, kd_plain)
    inside = tiny_model(name, map_fusion="seg+kd", kd_pool=3, kd_pool_border="inside").model.eval()
    inside.load_state_dict(plain.state_dict())
    with torch.no_grad():
        _, kd_inside = inside.maps(images)
    assert not torch.allclose(kd_inside, kd_pooled)  # the option reaches the model's map


@pytest.mark.parametrize(
    ("name", "options"),
    [("Adps", {}), ("Adps", {"psm_input": "teacher_only"}), ("Adps", {"psm": False}), ("Dmdd", {})],
)
def test_the_curves_one_pass_gives_the_maps_and_distances_of_two(name: str, options: dict) -> None:
    """The learning curves read the maps and the student's distances of the clean probe images from one pass
    (``maps_and_distances``), with the frozen teacher's features of those images computed once (``teacher``): the
    same tensors as ``maps`` and ``student_distances`` give separately."""
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    model = tiny_model(name, **options).model.eval()
    with torch.no_grad():
        teacher = model.teacher_features(images)
        seg, kd, distances = model.maps_and_distances(images, teacher)
        seg_alone, kd_alone = model.maps(images)
        distances_alone = model.student_distances(images)
        other_teacher = model.teacher_features(torch.randn(2, 3, 64, 64))
        seg_other, kd_other = model.maps(images, teacher=other_teacher)
    # the teacher given is the one the maps use
    assert not torch.allclose(seg_other if seg is not None else kd_other, seg if seg is not None else kd)
    for one, two in ((seg, seg_alone), (kd, kd_alone)):
        assert (one is None) == (two is None)
        if one is not None:
            torch.testing.assert_close(one, two, rtol=0, atol=0)
    assert distances.keys() == distances_alone.keys() and len(distances) >= 3
    for key, value in distances.items():
        torch.testing.assert_close(value, distances_alone[key], rtol=0, atol=0)
        assert value > 0  # an untrained student: the distances are not trivially zero on both sides


def test_calibration_views_turn_or_flip_every_image_through_the_seven_other_symmetries_in_turn() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 3, 6, 6)
    views = calibration_views(image.repeat(7, 1, 1, 1))
    symmetries = [torch.rot90(image[0], k, (-2, -1)) for k in range(4)]
    symmetries += [torch.rot90(image[0].flip(-1), k, (-2, -1)) for k in range(4)]
    matches = [[i for i, s in enumerate(symmetries) if torch.equal(view, s)] for view in views]
    assert sorted(m[0] for m in matches) == list(range(1, 8)), matches  # each non-identity symmetry once
    # the stream position carries across batches: image 7 of the stream (start=7) takes the first view again
    assert torch.equal(calibration_views(image, start=7)[0], views[0])
    # without turns: the horizontal and vertical flips and the half turn, each once (rows stay rows)
    flips = calibration_views(image.repeat(3, 1, 1, 1), turns=False)
    matches = [[i for i, s in enumerate(symmetries) if torch.equal(view, s)] for view in flips]
    assert sorted(m[0] for m in matches) == [2, 4, 6], matches  # half turn, mirror, mirror + half turn
    wide = torch.rand(3, 3, 4, 6)  # not square: the flips and the half turn, which keep the shape
    assert calibration_views(wide).shape == wide.shape
    assert not any(torch.equal(v, w) for v, w in zip(calibration_views(wide), wide, strict=True))


@pytest.mark.parametrize(("name", "calibration"), [("Adps", "views"), ("Dmdd", "flips")])
def test_views_calibration_measures_the_fusion_on_turned_training_images(name: str, calibration: str) -> None:
    torch.manual_seed(0)
    images = torch.rand(4, 3, 64, 64)
    model = tiny_model(name, map_fusion="seg+kd", map_fusion_scale="peak", map_fusion_calibration=calibration)
    model.calibrate_map_fusion([images])
    expected = FusedMap("seg+kd", map_fusion_scale="peak")
    with torch.no_grad():
        expected.calibrate(*model.model.eval().maps(calibration_views(images, turns=calibration == "views")))
    fusion = model.model.anomaly_map_generator.fusion
    torch.testing.assert_close(fusion.stats, expected.stats)
    trained = tiny_model(name, map_fusion="seg+kd", map_fusion_scale="peak")  # "train": the images as they are
    trained.model.load_state_dict(model.model.state_dict())
    trained.calibrate_map_fusion([images])
    assert not torch.allclose(trained.model.anomaly_map_generator.fusion.stats, fusion.stats)


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_views_calibration_is_refused_for_a_model_that_trains_on_views(name: str) -> None:
    for calibration in ("views", "flips"):
        with pytest.raises(ValueError, match=r"train_augment='flip' trains on such views.*map_fusion_calibration='tr"):
            tiny_model(name, map_fusion_calibration=calibration, train_augment="flip")
    with pytest.raises(ValueError, match="map_fusion_calibration"):
        tiny_model(name, map_fusion_calibration="test")
