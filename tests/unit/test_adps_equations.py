"""ADPS equations on hand-computed tensors: WMB (eqs. 1-2), L_d (eq. 7), focal (eq. 8), PSM (eqs. 3-6), Algorithm 1."""

import math

import pytest
import torch
from helpers import tiny_model
from lightning.pytorch import LightningModule

from anomalib_kd_plugins.components.losses import resize_mask
from anomalib_kd_plugins.models.adps.anomaly_map import AnomalyMapGenerator, max_score
from anomalib_kd_plugins.models.adps.loss import AdpsLoss, distillation_loss, softmax_focal_loss
from anomalib_kd_plugins.models.adps.torch_model import AdpsModel, PostSegmentationModule, weight_mask_block
from anomalib_kd_plugins.models.dmdd.anomaly_map import top_k_mean_score


def test_wmb_hand_values() -> None:
    # two positions: identical vectors (cos 1 -> C = 0), orthogonal vectors (cos 0 -> C = T)
    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).T.reshape(1, 2, 1, 2)  # position 0: (1,0); position 1: (0,2)
    s = torch.tensor([[3.0, 0.0], [5.0, 0.0]]).T.reshape(1, 2, 1, 2)  # position 0: (3,0); position 1: (5,0)
    cos, weighted = weight_mask_block([t], [s])
    assert torch.allclose(cos[0].flatten(), torch.tensor([1.0, 0.0]))
    assert torch.allclose(weighted[0][..., 0], torch.zeros(1, 2, 1))  # (1 - 1)·T
    assert torch.allclose(weighted[0][..., 1], t[..., 1])  # (1 - 0)·T


def test_wmb_opposite_and_45_degrees() -> None:
    t = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1)
    s = torch.tensor([1.0, 1.0]).reshape(1, 2, 1, 1)
    cos, weighted = weight_mask_block([t], [s])
    assert math.isclose(cos[0].item(), 1 / math.sqrt(2), rel_tol=1e-6)
    assert torch.allclose(weighted[0].flatten(), torch.tensor([1 - 1 / math.sqrt(2), 0.0]))
    cos, weighted = weight_mask_block([t], [-t])
    assert cos[0].item() == pytest.approx(-1.0)
    assert torch.allclose(weighted[0].flatten(), torch.tensor([2.0, 0.0]))  # (1 - (-1))·T


def test_wmb_detach_blocks_gradient_into_student() -> None:
    t = torch.randn(1, 4, 2, 2)
    for detach, expect_grad in [(False, True), (True, False)]:
        s = torch.randn(1, 4, 2, 2, requires_grad=True)
        _, weighted = weight_mask_block([t], [s], detach=detach)
        (weighted[0].sum() + 0 * s.sum()).backward()  # anchor s in the graph either way
        assert (s.grad is not None and s.grad.abs().sum() > 0) == expect_grad


def test_distillation_loss_both_branches_of_y() -> None:
    # cos map 2×2 with values a..d; Y = 1 on the first row only
    w = torch.tensor([[0.2, -0.4], [0.9, 0.5]]).reshape(1, 1, 2, 2)
    mask = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    # anomalous: Y·cos -> 0.2, -0.4 ; normal: (1-Y)(1-cos) -> 0.1, 0.5
    expected = (0.2 - 0.4 + 0.1 + 0.5) / 4
    assert distillation_loss([w], mask).item() == pytest.approx(expected)
    # summed over levels (eq. 7 Σ_i)
    assert distillation_loss([w, w], mask).item() == pytest.approx(2 * expected)


def test_distillation_loss_downsamples_mask() -> None:
    w = torch.zeros(1, 1, 2, 2)  # cos = 0 everywhere: normal cells cost 1, anomalous 0
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1  # top-left quarter anomalous -> 1 of 4 cells
    assert distillation_loss([w], mask, "bilinear").item() == pytest.approx(3 / 4)
    one_pixel = torch.zeros(1, 1, 4, 4)
    one_pixel[..., 0, 0] = 1
    assert resize_mask(one_pixel, (2, 2), "bilinear").sum() == 0  # <0.5 coverage -> normal
    assert resize_mask(one_pixel, (2, 2), "max").sum() == 1  # any pixel -> anomalous


@pytest.mark.parametrize("gamma", [0.0, 2.0, 4.0])
def test_focal_hand_values(gamma: float) -> None:
    # logits chosen so that p(anomalous) = 0.8 at pixel 0 (y=1) and 0.3 at pixel 1 (y=0)
    p = torch.tensor([0.8, 0.3])
    logits = torch.stack([torch.zeros(2), torch.log(p / (1 - p))]).reshape(1, 2, 1, 2)
    mask = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    expected = (-((1 - 0.8) ** gamma) * math.log(0.8) - (0.3**gamma) * math.log(1 - 0.3)) / 2
    assert softmax_focal_loss(logits, mask, gamma).item() == pytest.approx(expected, rel=1e-5)


def test_total_loss_is_ld_plus_lambda_ls() -> None:
    logits = torch.randn(2, 2, 8, 8)
    cos = [torch.rand(2, 1, 4, 4) * 2 - 1]
    mask = (torch.rand(2, 1, 8, 8) > 0.7).float()
    total, parts = AdpsLoss(focal_gamma=2.0, lambda_seg=0.5)(logits, cos, mask)
    assert total.item() == pytest.approx(parts["loss_distill"].item() + 0.5 * parts["loss_seg"].item(), rel=1e-6)


def test_psm_channel_plan_matches_paper_for_wrn50() -> None:
    psm = PostSegmentationModule([256, 512, 1024], [4, 8, 16])
    widths = [b.body[0][0].out_channels for b in psm.blocks]
    assert widths == [512, 256, 128, 64]  # docs/adps.md §1.5
    assert psm.skip_index == [1, 0, -1, -1]
    assert psm.head.out_channels == 2


def test_psm_output_shape_and_softmax_sums_to_one() -> None:
    model = AdpsModel(backbone="resnet18", layers=["layer1", "layer2", "layer3"], pre_trained=False, k=2).train()
    logits, cos_maps = model(torch.randn(2, 3, 64, 96))
    assert logits.shape == (2, 2, 64, 96)
    assert [c.shape[-2:] for c in cos_maps] == [(16, 24), (8, 12), (4, 6)]
    probs = torch.softmax(logits, dim=1)
    assert torch.allclose(probs.sum(dim=1), torch.ones(2, 64, 96), atol=1e-6)


def test_eval_score_is_max_of_smoothed_map() -> None:
    model = AdpsModel(backbone="resnet18", layers=["layer1", "layer2", "layer3"], pre_trained=False, k=2).eval()
    x = torch.randn(3, 3, 64, 64)
    out = model(x)
    assert out.anomaly_map.shape == (3, 1, 64, 64)
    assert torch.equal(out.pred_score, out.anomaly_map.flatten(1).amax(1))
    # and the map is the Gaussian-smoothed anomaly-class probability
    with torch.no_grad():
        model.train(False)
        t, s = model.teacher_student_features(x)
        _, weighted = weight_mask_block(t, s)
        raw = torch.softmax(model.psm(weighted), 1)[:, 1:2]
    assert torch.allclose(out.anomaly_map, model.anomaly_map_generator.smoother(raw), atol=1e-6)
    assert not torch.allclose(out.anomaly_map, raw)  # smoothing did something


def test_gaussian_smoothing_and_scores() -> None:
    logits = torch.zeros(1, 2, 21, 21)
    logits[0, 1, 10, 10] = 50.0  # p(anomalous) = 1 at the centre, 0.5 elsewhere
    amap, score = AnomalyMapGenerator(sigma=2.0)(AnomalyMapGenerator.segmentation_map(logits))
    assert amap.shape == (1, 1, 21, 21)
    assert amap[0, 0].argmax().item() == 10 * 21 + 10  # peak stays in place
    assert score.item() == pytest.approx(amap.max().item())
    # the separable filter is anomalib's 2-D GaussianBlur2d (same kernel size, reflect padding), run in two passes
    from anomalib.models.components import GaussianBlur2d

    maps = torch.rand(3, 1, 128, 96)
    for sigma in (2.0, 4.0):
        size = 2 * int(4.0 * sigma + 0.5) + 1
        reference = GaussianBlur2d(kernel_size=(size, size), sigma=(sigma, sigma), channels=1)(maps)
        assert (AnomalyMapGenerator(sigma).smoother(maps) - reference).abs().max() < 1e-5
    assert torch.equal(AnomalyMapGenerator(0.0).smoother(maps), maps)  # σ = 0: no smoothing
    x = torch.tensor([[1.0, 5.0, 3.0, 2.0]])
    assert max_score(x).item() == 5.0
    assert top_k_mean_score(x, 2).item() == 4.0


def test_score_map_raw_scores_the_map_before_the_gaussian() -> None:
    logits = torch.zeros(2, 2, 21, 21)
    logits[0, 1, 10, 10] = 50.0  # a one-pixel peak: G spreads it to far below 1
    logits[1, 1, 5:16, 5:16] = 1.0  # a wide, low plateau: G leaves it nearly as it is
    seg = AnomalyMapGenerator.segmentation_map(logits)
    smoothed, paper_score = AnomalyMapGenerator(sigma=2.0)(seg)
    amap, raw_score = AnomalyMapGenerator(sigma=2.0, score_map="raw")(seg)
    assert torch.equal(amap, smoothed)  # the map (and the pixel metrics) keep G(M)
    assert torch.equal(paper_score, max_score(smoothed)) and torch.equal(raw_score, max_score(seg))
    assert raw_score[0] > raw_score[1] and paper_score[0] < paper_score[1]  # the ranking the option is for
    with pytest.raises(ValueError, match="score_map must be one of"):
        AnomalyMapGenerator(score_map="blurred")  # type: ignore[arg-type]


@pytest.mark.parametrize(("size", "k", "needle"), [((250, 256), 8, "k=8 does not divide"), ((120, 120), 4, "stride")])
def test_bad_image_size_names_sizes_that_work(size: tuple[int, int], k: int, needle: str) -> None:
    model = AdpsModel(backbone="resnet18", layers=["layer1", "layer2", "layer3"], pre_trained=False, k=k)
    with pytest.raises(ValueError, match=needle) as info:
        model(torch.randn(1, 3, *size))
    assert f"multiples of k × 16 = {16 * k}" in str(info.value)
    assert str(16 * k * 2) in str(info.value)


def test_k_larger_than_feature_grid() -> None:
    model = AdpsModel(backbone="resnet18", layers=["layer1", "layer2", "layer3"], pre_trained=False, k=32)
    with pytest.raises(ValueError, match="larger than the feature grid"):
        model.check_input_size(256, 256)


def test_unknown_backbone_suggests_names() -> None:
    with pytest.raises(ValueError, match="wide_resnet50_2"):
        AdpsModel(backbone="wide_resnet_50_2", pre_trained=False)


def test_conv_bn_relu_folds_its_bn_in_eval_mode_only_and_keeps_its_checkpoint_keys() -> None:
    """The PSM's (and DMDD head's) conv-BN-ReLU: eval folds BN into the conv, the same function; train runs the BN."""
    from anomalib_kd_plugins.components.blocks import conv_bn_relu

    torch.manual_seed(0)
    block = conv_bn_relu(4, 6, kernel_size=3, dilation=2)
    bn = block[1]
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    conv = torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, bias=False)
    reference = torch.nn.Sequential(conv, torch.nn.BatchNorm2d(6), torch.nn.ReLU())
    reference.load_state_dict(block.state_dict())  # the same keys: checkpoints load either way
    x = torch.randn(2, 4, 9, 9)
    block.eval(), reference.eval()
    calls: list[int] = []
    handle = bn.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        folded, plain = block(x), reference(x)
    assert not calls  # eval: the BN module is not run, its statistics are in the conv's weights
    assert folded.shape == (2, 6, 9, 9) and (plain > 0).any()
    torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-6)
    block.train()
    block(x)
    assert calls == [1]  # train: batch statistics, the BN itself runs
    handle.remove()


def _lr_per_epoch(model: LightningModule, epochs: int) -> list[float]:
    """The lr of each of ``epochs`` epochs under the model's own optimiser and scheduler (one step per epoch)."""
    [optimizer], [config] = model.configure_optimizers()
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        config["scheduler"].step()
    return lrs


def test_warmup_lr_holds_during_the_warmup_then_the_paper_decay_follows() -> None:
    model = tiny_model("Adps", lr=1e-3, student_warmup_epochs=2, student_warmup_lr=3e-3)
    lrs = _lr_per_epoch(model, 300)  # no trainer: the paper's 300 epochs
    # 3e-3 for the 2 warm-up epochs, then 1e-3, ×0.2 at 2 + 0.8·298 = 240 and at 2 + 0.9·298 = 270
    assert lrs[:3] == pytest.approx([3e-3, 3e-3, 1e-3])
    assert lrs[239:241] == pytest.approx([1e-3, 2e-4]) and lrs[270] == pytest.approx(4e-5)
    plain = tiny_model("Adps", lr=1e-3, student_warmup_epochs=2)
    assert plain.configure_optimizers()[0][0].param_groups[0]["lr"] == pytest.approx(1e-3)  # None: lr
    with pytest.raises(ValueError, match="needs student_warmup_epochs"):
        tiny_model("Adps", student_warmup_lr=3e-3)


def test_an_annealed_warmup_lr_falls_to_near_0_then_the_joint_training_starts_at_lr() -> None:
    model = tiny_model("Adps", lr=1e-3, student_warmup_epochs=4, student_warmup_lr=3e-3, student_lr_schedule="cosine")
    lrs = _lr_per_epoch(model, 6)
    # 3e-3 · ½(1 + cos(π e / 4)) for the warm-up's epochs e = 0..3, then lr
    assert lrs == pytest.approx([3e-3, 2.5607e-3, 1.5e-3, 0.4393e-3, 1e-3, 1e-3], rel=1e-4)
    steps = tiny_model(
        "Adps", lr=1e-3, student_warmup_epochs=10, student_warmup_lr=3e-3, student_lr_schedule="multistep"
    )
    lrs = _lr_per_epoch(steps, 11)
    # 3e-3 for the warm-up's epochs 0-7, ×0.2 from 8 (80 %), ×0.2 again from 9 (90 %), then lr
    assert lrs == pytest.approx([3e-3] * 8 + [6e-4, 1.2e-4, 1e-3], rel=1e-6)
    with pytest.raises(ValueError, match="needs student_warmup_epochs > 0"):
        tiny_model("Adps", student_lr_schedule="cosine")
    with pytest.raises(ValueError, match="student_lr_schedule must be one of"):
        tiny_model("Adps", student_warmup_epochs=2, student_lr_schedule="linear")
