"""Feature extractors: stages past the deepest extracted layer are pruned without changing any output."""

from __future__ import annotations

import pytest
import torch
from anomalib.models.components import TimmFeatureExtractor

from anomalib_kd_plugins.components.backbone import build_feature_extractor, prune_unused_stages

LITE0_LAYERS = ["blocks.1", "blocks.2", "blocks.4"]


def test_lite0_extractor_drops_stages_5_and_6_and_gives_identical_features() -> None:
    torch.manual_seed(0)
    full = TimmFeatureExtractor("tf_efficientnet_lite0", LITE0_LAYERS, pre_trained=False).eval()
    pruned = build_feature_extractor("tf_efficientnet_lite0", LITE0_LAYERS, pre_trained=False, requires_grad=False)
    missing, unexpected = pruned.load_state_dict(full.state_dict(), strict=False)
    assert not missing  # every kept weight comes from the full extractor
    assert unexpected and all(k.split(".")[2] in ("5", "6") for k in unexpected), unexpected  # blocks.5/6 only
    assert len(pruned.feature_extractor.blocks) == 5 and len(full.feature_extractor.blocks) == 7
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before, after = full(x), pruned.eval()(x)
    assert list(before) == list(after) == LITE0_LAYERS
    for name in LITE0_LAYERS:
        assert torch.equal(before[name], after[name]), name
    params = (sum(p.numel() for p in m.parameters()) for m in (full, pruned))
    assert next(params) > next(params)


@pytest.mark.parametrize(
    ("backbone", "layers"), [("resnet18", ["layer1", "layer2", "layer3"]), ("tf_efficientnet_lite0", ["blocks.6"])]
)
def test_extractors_that_use_every_stage_are_left_alone(backbone: str, layers: list[str]) -> None:
    # timm's ResNet feature wrapper already stops at the last requested layer; blocks.6 is lite0's last stage
    extractor = TimmFeatureExtractor(backbone, layers, pre_trained=False)
    assert prune_unused_stages(extractor) == 0


@pytest.mark.parametrize("pre_trained", [False, True])
def test_building_an_extractor_draws_the_same_random_numbers_with_or_without_weights(
    seeded_weights: object, pre_trained: bool
) -> None:
    # Loading the weights builds a throwaway full timm model; its random init must not move the seeded stream, or
    # every student built after the teacher starts elsewhere and seeded fits stop printing the README's figures.
    from anomalib_kd_plugins.components.backbone import default_layers

    torch.manual_seed(0)
    build_feature_extractor("tf_efficientnet_lite0", LITE0_LAYERS, pre_trained=False, requires_grad=False)
    reference = torch.rand(4)
    torch.manual_seed(0)
    build_feature_extractor("tf_efficientnet_lite0", LITE0_LAYERS, pre_trained=pre_trained, requires_grad=False)
    assert default_layers("tf_efficientnet_lite0") == LITE0_LAYERS  # builds a throwaway model too
    assert torch.equal(torch.rand(4), reference)
