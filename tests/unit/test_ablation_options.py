"""The ablation options (issue 16) change what they claim to change, and nothing when left at their defaults."""

import pytest
import torch

from anomalib_kd_plugins.models.adps.loss import AdpsLoss
from anomalib_kd_plugins.models.adps.patches import merge_patches, split_patches
from anomalib_kd_plugins.models.adps.torch_model import AdpsModel
from anomalib_kd_plugins.models.dmdd.loss import DmddLoss
from anomalib_kd_plugins.models.dmdd.torch_model import DmddModel

LAYERS = ("layer1", "layer2", "layer3")


def adps(**kwargs) -> AdpsModel:
    torch.manual_seed(0)
    model = AdpsModel("resnet18", LAYERS, pre_trained=False, k=2, **kwargs)
    for module in model.modules():  # timm zero-inits each block's last BN: its blocks would be pointwise at init
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
    return model


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 3, 64, 64)


def test_fusion_difference_feeds_t_minus_s_and_concat_a_learned_conv(images: torch.Tensor) -> None:
    ref = adps()
    t, s = ref.teacher_student_features(images)
    for fusion, expected in (("wmb", None), ("difference", [a - b for a, b in zip(t, s, strict=True)])):
        model = adps(fusion=fusion)
        _, _, cos, inputs = model.psm_inputs(images)
        assert len(cos) == 3  # L_d still sees W_i
        if expected is None:  # WMB, eq. (2)
            expected = [(1 - w) * a for w, a in zip(cos, t, strict=True)]
        for got, want in zip(inputs, expected, strict=True):
            torch.testing.assert_close(got, want)
    concat = adps(fusion="concat")
    assert [conv.in_channels for conv in concat.fuse] == [2 * c for c in concat.channels]
    inputs = concat.psm_inputs(images).weighted
    torch.testing.assert_close(inputs[0], concat.fuse[0](torch.cat([t[0], s[0]], 1)))
    assert adps().fuse is None


def test_psm_false_scores_the_plain_kd_map(images: torch.Tensor) -> None:
    model = adps(psm=False, sigma=0).eval()
    assert model.psm is None and not any("psm" in n for n, _ in model.named_parameters())
    out = model(images)
    t, s = model.teacher_student_features(images)
    distance = [1 - torch.nn.functional.cosine_similarity(a, b, dim=1)[:, None] for a, b in zip(t, s, strict=True)]
    up = [torch.nn.functional.interpolate(d, size=(64, 64), mode="bilinear") for d in distance]
    torch.testing.assert_close(out.anomaly_map, torch.stack(up).mean(0))
    torch.testing.assert_close(out.pred_score, out.anomaly_map.flatten(1).amax(1))
    model.train()
    logits, cos = model(images)
    _, parts = AdpsLoss()(logits, cos, torch.zeros(2, 1, 64, 64))
    assert logits is None and set(parts) == {"loss_distill"}


@pytest.mark.parametrize(("psm_input", "unused"), [("teacher_only", "student"), ("student_only", "teacher")])
def test_single_network_psm_input_ignores_the_other_network(images: torch.Tensor, psm_input: str, unused: str) -> None:
    model = adps(psm_input=psm_input).eval()
    before = model(images).anomaly_map
    with torch.no_grad():
        for p in getattr(model, unused).parameters():
            p.add_(torch.randn_like(p))
    torch.testing.assert_close(model(images).anomaly_map, before)  # the other network plays no part
    model.train()
    logits, cos = model(images)
    _, parts = AdpsLoss()(logits, cos, torch.zeros(2, 1, 64, 64))
    assert cos == [] and set(parts) == {"loss_seg"}  # no W_i, so no L_d
    # the default reads both networks
    full = adps().eval()
    before = full(images).anomaly_map
    with torch.no_grad():
        for p in getattr(full, unused).parameters():
            p.add_(torch.randn_like(p))
    assert not torch.allclose(full(images).anomaly_map, before)


def test_asym_stage_moves_the_split_into_the_student(images: torch.Tensor) -> None:
    whole = [f for f in adps().student(images).values()]  # the student on the whole image, no split
    per_patch = adps().student_features(images)  # asym_stage = 0: the image is split
    torch.testing.assert_close(per_patch[0], merge_patches(adps().student(split_patches(images, 2))["layer1"], 2))
    stage2 = adps(asym_stage=2).student_features(images)
    torch.testing.assert_close(stage2[0], whole[0])  # stage 1 ran on the whole image: symmetric
    assert not torch.allclose(stage2[1], whole[1], atol=1e-4)  # stage 2 ran per tile
    assert not torch.allclose(stage2[1], per_patch[1], atol=1e-4)  # ... on tiles of a stage-1 map that saw context
    assert [f.shape for f in stage2] == [f.shape for f in whole]
    with pytest.raises(ValueError, match="asym_stage"):
        adps(asym_stage=3)


def test_meaningless_combinations_are_refused() -> None:
    with pytest.raises(ValueError, match="psm=False"):
        adps(psm=False, fusion="concat")
    with pytest.raises(ValueError, match="fusion"):
        adps(fusion="sum")
    with pytest.raises(ValueError, match="psm_input"):
        adps(psm_input="teacher_only", fusion="difference")


def test_dmdd_decouple_false_is_a_plain_student() -> None:
    torch.manual_seed(0)
    model = DmddModel("resnet18", LAYERS, pre_trained=False, seg_channels=32, decouple=False)
    assert model.decouple is None and model.decouple not in model.student_modules()
    normality, abnormality = model.student_features(torch.randn(2, 3, 64, 64))
    assert all(n is a for n, a in zip(normality, abnormality, strict=True))
    decoupled = DmddModel("resnet18", LAYERS, pre_trained=False, seg_channels=32)
    n, a = decoupled.student_features(torch.randn(2, 3, 64, 64))
    assert not torch.allclose(n[0], a[0])


@pytest.mark.parametrize(("lambda_ngm", "lambda_aim"), [(0.0, 1.0), (1.0, 0.0), (1.0, 1.0)])
def test_lambda_zero_removes_that_branch_gradient(lambda_ngm: float, lambda_aim: float) -> None:
    torch.manual_seed(0)
    t = [torch.randn(2, 4, 4, 4)]
    normality = [torch.randn(2, 4, 4, 4, requires_grad=True)]
    abnormality = [torch.randn(2, 4, 4, 4, requires_grad=True)]
    mask = (torch.rand(2, 1, 16, 16) > 0.7).float()
    loss = DmddLoss(lambda_ngm=lambda_ngm, lambda_aim=lambda_aim)
    kd, _ = loss.distillation(t, t, normality, abnormality, mask)
    kd.backward()
    assert (normality[0].grad is not None and normality[0].grad.abs().sum() > 0) == (lambda_ngm > 0)
    assert (abnormality[0].grad is not None and abnormality[0].grad.abs().sum() > 0) == (lambda_aim > 0)
