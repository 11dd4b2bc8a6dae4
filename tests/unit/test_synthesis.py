"""Synthetic-anomaly sources: masks and blending stay anomalib's; the fill comes from the chosen source."""

from __future__ import annotations

import pytest
import torch

from anomalib_kd_plugins.components.synthesis import ANOMALY_SOURCES, AnomalySynthesizer, resolve_anomaly_source

SOURCES = [s for s in ANOMALY_SOURCES if s != "folder"]


def _grey_batch() -> torch.Tensor:
    torch.manual_seed(0)
    grey = torch.rand(4, 1, 64, 64) * 0.5 + 0.25
    return grey.expand(4, 3, 64, 64).contiguous()


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_changes_pixels_only_inside_its_binary_mask(source: str) -> None:
    images = _grey_batch()
    out, mask = AnomalySynthesizer(probability=1.0, source=source)(images)
    assert out.shape == images.shape and mask.shape == (4, 1, 64, 64)
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and mask.sum() > 0
    outside = (mask == 0).expand_as(images)
    assert torch.allclose(out[outside], images[outside], atol=1e-6)  # untouched outside the mask
    assert (out - images).abs()[~outside].mean() > 0.01  # something was pasted inside


@pytest.mark.parametrize("source", SOURCES)
def test_grey_images_get_grey_anomalies(source: str) -> None:
    # a coloured fill in grey data would teach "colour = anomaly", which says nothing about real defects
    out, _ = AnomalySynthesizer(probability=1.0, source=source)(_grey_batch())
    assert (out - out.mean(dim=1, keepdim=True)).abs().max() < 1e-5


def test_procedural_textures_are_coloured_for_colour_images() -> None:
    torch.manual_seed(0)
    images = torch.rand(4, 3, 64, 64)
    synth = AnomalySynthesizer(probability=1.0, source="procedural")
    synth(images)
    assert synth.textures.grey is False
    texture = synth.textures(64, 64, None)
    assert (texture - texture.mean(dim=0, keepdim=True)).abs().max() > 0.05


def test_self_textures_come_from_the_batch_not_from_noise() -> None:
    # a constant batch has a constant fill before augmentation: the pasted texture carries no Perlin pattern
    synth = AnomalySynthesizer(probability=1.0, source="self")
    synth(torch.full((2, 3, 32, 32), 0.3))
    texture = synth.textures(32, 32, None)
    assert torch.allclose(texture, torch.full_like(texture, 0.3), atol=1e-4)


def test_source_resolution_and_its_errors(tmp_path) -> None:
    assert resolve_anomaly_source(None, None) == "perlin"
    assert resolve_anomaly_source(None, str(tmp_path)) == "folder"
    with pytest.raises(ValueError, match="needs anomaly_source_path"):
        resolve_anomaly_source("folder", None)
    with pytest.raises(ValueError, match="only read by anomaly_source='folder'"):
        resolve_anomaly_source("self", str(tmp_path))
    with pytest.raises(ValueError, match="must be one of"):
        resolve_anomaly_source("dtd", None)


def test_mixed_draws_each_fill_about_a_third_of_the_time_and_feeds_its_sources_the_batch() -> None:
    torch.manual_seed(0)
    synth = AnomalySynthesizer(probability=1.0, source="mixed")
    synth(torch.full((2, 3, 64, 64), 0.3))  # a constant grey batch
    assert synth.textures.own.pool is not None and synth.textures.procedural.grey is True
    draws = [synth.textures(64, 64, None) for _ in range(300)]
    perlin = sum(d is None for d in draws)  # anomalib's own fill is kept
    own = sum(d is not None and torch.allclose(d, torch.full_like(d, 0.3), atol=1e-4) for d in draws)  # batch crops
    procedural = len(draws) - perlin - own
    assert all(70 < n < 130 for n in (perlin, own, procedural)), (perlin, own, procedural)


def _demo_training_images(tmp_path) -> dict[str, torch.Tensor]:
    """Real training images of the four demo categories at the CPU recipes' 128² (pixels in [0, 1])."""
    from torchvision.io import read_image
    from torchvision.transforms.v2 import functional as tf

    from anomalib_kd_plugins.data import DEFAULT_CATEGORIES, BuildConfig, build

    root = build(tmp_path, DEFAULT_CATEGORIES, BuildConfig(num_train=6, num_test_good=1, num_test_per_defect=1))
    images = {}
    for category in DEFAULT_CATEGORIES:
        paths = sorted((root / category / "train" / "good").glob("*.png"))
        images[category] = torch.stack([tf.resize(read_image(str(p)), [128, 128]) for p in paths]).float() / 255
    return images


def test_the_shortcut_cue_local_contrast_inside_anomalies_per_source(tmp_path) -> None:
    # anomalib's grey Perlin fill, blended at beta in (0.2, 1), washes the surface out inside the mask: a cue a model
    # can learn instead of the surface. The matched source keeps the local contrast of the surroundings.
    from anomalib_kd_plugins.components.synthesis import contrast_ratios

    images = _demo_training_images(tmp_path)
    medians = {}
    for source in ("perlin", "matched"):
        values = torch.tensor([r for batch in images.values() for r in contrast_ratios(source, batch, 16)])
        medians[source] = float(values.median())
    assert 0.8 <= medians["matched"] <= 1.25, medians
    assert medians["perlin"] < 0.8, medians  # the cue exists in the fill the "perlin" source keeps


def test_matched_anomalies_come_in_every_shape_and_keep_grey_data_grey() -> None:
    from anomalib_kd_plugins.components.synthesis import MATCHED_SHAPES, MatchedAnomalyGenerator

    images = _grey_batch()
    for shape in MATCHED_SHAPES:  # each shape on its own: a non-empty mask, and pixels change only inside it
        torch.manual_seed(1)
        out, mask = MatchedAnomalyGenerator(probability=1.0, shapes=(shape,))(images)
        assert mask.sum() > 0, shape
        outside = (mask == 0).expand_as(images)
        assert torch.equal(out[outside], images[outside]), shape
        assert (out - out.mean(dim=1, keepdim=True)).abs().max() < 1e-5, shape  # grey stays grey
    with pytest.raises(ValueError, match="shape must be one of"):
        MatchedAnomalyGenerator(shapes=("hole",))
