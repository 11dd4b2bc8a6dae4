"""DMDD blocks on hand-computed tensors (docs/dmdd.md §2.2): decoupling, NGM, AIM-1/2, focal + L1, head, score."""

import math

import pytest
import torch

from anomalib_kd_plugins.models.dmdd.anomaly_map import AnomalyMapGenerator, top_k_mean_score
from anomalib_kd_plugins.models.dmdd.attention import MultiPerceptionHead
from anomalib_kd_plugins.models.dmdd.blocks import DecoupleHead
from anomalib_kd_plugins.models.dmdd.loss import (
    DmddLoss,
    aim_loss_l1,
    aim_loss_margin,
    ngm_loss,
    segmentation_loss,
)
from anomalib_kd_plugins.models.dmdd.torch_model import DmddModel, StudentDecoder, student_encoder_layers


def vec(*columns: tuple[float, float]) -> torch.Tensor:
    """(1, 2, 1, n) feature map whose position i holds the 2-vector columns[i]."""
    return torch.tensor(columns, dtype=torch.float32).T.reshape(1, 2, 1, len(columns))


def test_decouple_head_splits_into_two_branches_of_teacher_width() -> None:
    head = DecoupleHead(channels=24, expansion=2)
    assert head.net[0].out_channels == 48  # 1×1 conv expands before the split
    normality, abnormality = head(torch.randn(3, 24, 8, 8))
    assert normality.shape == abnormality.shape == (3, 24, 8, 8)
    assert not torch.allclose(normality, abnormality)


def test_ngm_hand_values() -> None:
    t = vec((1, 0), (1, 0))
    f = vec((1, 1), (0, 1))  # cos = 1/√2 and 0
    expected = ((1 - 1 / math.sqrt(2)) + 1) / 2
    assert ngm_loss([t], [f]).item() == pytest.approx(expected)
    mask = torch.tensor([[[[0.0, 1.0]]]])  # second position anomalous: masked NGM only sees the first
    assert ngm_loss([t], [f], mask).item() == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-5)


def test_aim_l1_hand_values() -> None:
    t = vec((1, 0), (1, 0), (1, 0))
    f = vec((1, 0), (0, 1), (0, 1))  # distance 0, 1, 1
    mask = torch.tensor([[[[0.0, 1.0, 0.0]]]])  # normal, anomalous, normal
    # |0-0| + |1-1| + |1-0| over 3 positions
    assert aim_loss_l1([t], [f], mask).item() == pytest.approx(1 / 3)


def test_aim_margin_hand_values() -> None:
    t = vec((1, 0), (1, 0), (1, 0))
    f = vec((1, 1), (1, 0), (-1, 0))  # cos 1/√2, 1, -1
    mask = torch.tensor([[[[1.0, 0.0, 1.0]]]])  # only anomalous positions count
    expected = (1 / math.sqrt(2) + 0.0) / 2
    assert aim_loss_margin([t], [f], mask, margin=0.0).item() == pytest.approx(expected, rel=1e-5)
    assert aim_loss_margin([t], [f], mask, margin=0.5).item() == pytest.approx((1 / math.sqrt(2) - 0.5) / 2, rel=1e-4)


def test_kd_loss_combines_ngm_and_lambda_aim() -> None:
    t = [torch.randn(2, 4, 4, 4)]
    n, a = [torch.randn(2, 4, 4, 4)], [torch.randn(2, 4, 4, 4)]
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float()
    total, parts = DmddLoss(lambda_aim=0.3).distillation(t, t, n, a, mask)
    assert total.item() == pytest.approx(parts["loss_ngm"].item() + 0.3 * parts["loss_aim"].item(), rel=1e-6)
    with pytest.raises(ValueError, match="aim must be one of"):
        DmddLoss(aim="l2")


def test_batch_sum_reduction_is_the_batch_size_times_the_mean() -> None:
    # DeSTSeg sums its KD loss over the batch: the student's gradient must not shrink by B
    torch.manual_seed(0)
    t = [torch.randn(3, 4, 4, 4)]
    n, a = [torch.randn(3, 4, 4, 4)], [torch.randn(3, 4, 4, 4)]
    mask = (torch.rand(3, 1, 16, 16) > 0.5).float()
    mean, _ = DmddLoss().distillation(t, t, n, a, mask)
    summed, parts = DmddLoss(kd_reduction="batch_sum").distillation(t, t, n, a, mask)
    assert summed.item() == pytest.approx(3 * mean.item(), rel=1e-6)
    assert summed.item() == pytest.approx(parts["loss_ngm"].item() + parts["loss_aim"].item(), rel=1e-6)
    with pytest.raises(ValueError, match="kd_reduction must be one of"):
        DmddLoss(kd_reduction="sum")


def test_segmentation_loss_focal_plus_l1_hand_values() -> None:
    p = torch.tensor([0.8, 0.3])
    logits = torch.log(p / (1 - p)).reshape(1, 1, 1, 2)
    mask = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    gamma = 4.0
    focal = (-((1 - 0.8) ** gamma) * math.log(0.8) - (0.3**gamma) * math.log(0.7)) / 2
    l1 = (0.2 + 0.3) / 2
    assert segmentation_loss(logits, mask, gamma).item() == pytest.approx(focal + l1, rel=1e-5)


def test_multi_perception_head_shapes() -> None:
    head = MultiPerceptionHead(channels=32, atrous_rates=(2, 4, 6)).eval()
    assert head(torch.randn(2, 32, 16, 16)).shape == (2, 1, 16, 16)
    x = torch.randn(1, 32, 8, 8)
    assert head.channel_attention(x).shape == head.spatial_attention(x).shape == head.context(x).shape == x.shape


def test_destseg_aspp_has_four_branches_and_a_3x3_fusion() -> None:
    from anomalib_kd_plugins.models.dmdd.attention import DeSTSegASPP

    head = MultiPerceptionHead(channels=32, atrous_rates=(2, 4, 6), aspp="destseg").eval()
    assert isinstance(head.context, DeSTSegASPP) and len(head.context.branches) == 4
    assert head.context.fuse[0].kernel_size == (3, 3) and head.context.fuse[0].in_channels == 4 * 32
    assert not any(isinstance(m, torch.nn.Dropout) for m in head.context.modules())
    assert head(torch.randn(2, 32, 16, 16)).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="aspp must be one of"):
        MultiPerceptionHead(channels=32, aspp="deeplab")


def test_top_k_score_and_map() -> None:
    logits = torch.full((2, 1, 4, 4), -10.0)
    logits[0, 0, 0, :2] = 10.0  # two hot cells in image 0
    amap, score = AnomalyMapGenerator(top_k=2)(logits, (8, 8))
    assert amap.shape == (2, 1, 8, 8)
    assert torch.allclose(score, top_k_mean_score(amap, 2))
    assert score[0] > 0.99 and score[1] < 0.01
    assert top_k_mean_score(torch.tensor([[1.0, 4.0, 2.0, 3.0]]), 3).item() == pytest.approx(3.0)


def test_sigma_smooths_the_upsampled_map_and_leaves_the_score_destsegs() -> None:
    from anomalib.models.components import GaussianBlur2d

    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8) * 3
    raw, raw_score = AnomalyMapGenerator(top_k=5)(logits, (32, 32))
    smoothed, score = AnomalyMapGenerator(top_k=5, sigma=2.0)(logits, (32, 32))
    size = 2 * int(4 * 2.0 + 0.5) + 1
    reference = GaussianBlur2d(kernel_size=(size, size), sigma=(2.0, 2.0), channels=1)(raw)
    assert (smoothed - reference).abs().max() < 1e-5  # anomalib's own 2-D blur of the raw map
    assert (smoothed - raw).abs().max() > 1e-2  # it did smooth
    assert torch.equal(score, raw_score) and torch.allclose(score, top_k_mean_score(raw, 5))  # DeSTSeg's score
    assert torch.equal(AnomalyMapGenerator(top_k=5, sigma=0.0)(logits, (32, 32))[0], raw)  # σ = 0: DeSTSeg's raw map
    scored, smoothed_score = AnomalyMapGenerator(top_k=5, sigma=2.0, score_map="smoothed")(logits, (32, 32))
    assert torch.equal(scored, smoothed)  # the map is the same; only the score moves
    assert torch.allclose(smoothed_score, top_k_mean_score(smoothed, 5)) and (smoothed_score - score).abs().max() > 1e-3
    with pytest.raises(ValueError, match="score_map must be one of"):
        AnomalyMapGenerator(score_map="blurred")  # type: ignore[arg-type]


def test_student_encoder_adds_one_deeper_stage() -> None:
    assert student_encoder_layers("resnet18", ["layer1", "layer2", "layer3"])[-1] == "layer4"
    assert student_encoder_layers("resnet18", ["layer2", "layer4"]) == ["layer2", "layer4"]
    with pytest.raises(ValueError, match="Available layers"):
        student_encoder_layers("resnet18", ["layer9"])


def test_model_shapes_and_bad_size() -> None:
    model = DmddModel(pre_trained=False, seg_channels=32).train()
    features, logits = model(torch.randn(2, 3, 64, 96))
    assert [f.shape[1:] for f in features.normality] == [(64, 16, 24), (128, 8, 12), (256, 4, 6)]
    assert [f.shape for f in features.abnormality] == [f.shape for f in features.teacher]
    assert logits.shape == (2, 1, 16, 24)
    out = model.eval()(torch.randn(2, 3, 64, 96))
    assert out.anomaly_map.shape == (2, 1, 64, 96) and out.pred_score.shape == (2,)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.randn(1, 3, 100, 100))


def test_student_phase_as_a_step_count_overrides_the_fraction() -> None:
    from anomalib_kd_plugins import Dmdd

    def phases(model) -> list[str]:
        model.total_steps, model.current_step = (lambda: 100), (lambda batch_idx: batch_idx)  # no trainer needed
        return [model.phase(i) for i in (2, 3, 19, 20)]

    assert phases(Dmdd(pre_trained=False, student_phase_steps=3)) == ["student", *["segmentation"] * 3]
    assert phases(Dmdd(pre_trained=False)) == ["student"] * 3 + ["segmentation"]  # 20 % of 100
    with pytest.raises(ValueError, match="student_phase_steps must be"):
        Dmdd(pre_trained=False, student_phase_steps=-1)


def test_a_student_warmup_runs_before_the_two_phase_schedule_over_the_remaining_steps() -> None:
    from types import SimpleNamespace

    from anomalib_kd_plugins import Dmdd

    model = Dmdd(pre_trained=False, student_warmup_epochs=2)
    model.total_steps = lambda: 100  # 10 batches × 10 epochs: 20 warm-up steps, then 20 % of the other 80
    trainer = SimpleNamespace(num_training_batches=10, current_epoch=0)
    model._trainer = trainer  # the two attributes the schedule reads
    phases = {}
    for step in (0, 19, 20, 35, 36, 99):
        trainer.current_epoch = step // 10
        phases[step] = model.phase(step % 10)
    assert phases == {
        0: "student",
        19: "student",
        20: "student",
        35: "student",
        36: "segmentation",
        99: "segmentation",
    }
    with pytest.raises(ValueError, match="student_warmup_epochs must be"):
        Dmdd(pre_trained=False, student_warmup_epochs=-1)


def test_the_student_lr_schedules_run_over_the_students_own_steps() -> None:
    from types import SimpleNamespace

    from anomalib_kd_plugins import Dmdd

    lrs = {}
    for schedule in ("constant", "cosine", "multistep"):
        model = Dmdd(pre_trained=False, student_warmup_epochs=2, student_lr_schedule=schedule)
        model.total_steps = lambda: 100  # 20 warm-up steps, then 16 of the other 80: 36 student steps
        model._trainer = SimpleNamespace(num_training_batches=10, current_epoch=0)
        lrs[schedule] = []
        for step in (0, 18, 28, 29, 33, 35):
            model._trainer.current_epoch = step // 10
            lrs[schedule].append(model.student_lr(step % 10))
    assert lrs["constant"] == [0.4] * 6
    assert lrs["cosine"][0] == 0.4 and lrs["cosine"][1] == pytest.approx(0.2, abs=1e-3)  # half-way: half the lr
    # ×0.2 from 80 % of the 36 student steps (step 28.8: 29 on), ×0.2 again from 90 % (32.4: 33 on)
    assert lrs["multistep"] == pytest.approx([0.4, 0.4, 0.4, 0.08, 0.016, 0.016])
    assert 0 < lrs["cosine"][5] < 0.4 * 0.01  # the last student step: almost nothing
    with pytest.raises(ValueError, match="student_lr_schedule must be one of"):
        Dmdd(pre_trained=False, student_lr_schedule="step")


def test_the_student_optimizer_is_destsegs_sgd_unless_adam_is_asked_for() -> None:
    from anomalib_kd_plugins import Dmdd

    sgd_student, sgd_seg = Dmdd(pre_trained=False).configure_optimizers()
    assert type(sgd_student) is torch.optim.SGD and sgd_student.defaults["lr"] == 0.4
    assert sgd_student.defaults["momentum"] == 0.9 and sgd_student.defaults["weight_decay"] == 1e-4
    adam_student, adam_seg = Dmdd(pre_trained=False, student_optimizer="adam").configure_optimizers()
    assert type(adam_student) is torch.optim.Adam and adam_student.defaults["lr"] == 3e-3
    assert type(adam_seg) is torch.optim.SGD  # the segmentation head keeps DeSTSeg's optimiser
    assert [g["lr"] for g in adam_seg.param_groups] == [g["lr"] for g in sgd_seg.param_groups] == [0.1, 0.01]
    model = Dmdd(pre_trained=False, student_optimizer="adam", lr_student=1e-3)
    assert model.configure_optimizers()[0].defaults["lr"] == 1e-3
    params = {id(p) for p in model.configure_optimizers()[0].param_groups[0]["params"]}
    assert params == {id(p) for m in model.model.student_modules() for p in m.parameters()}
    with pytest.raises(ValueError, match="student_optimizer must be one of"):
        Dmdd(pre_trained=False, student_optimizer="adamw")
    with pytest.raises(ValueError, match="lr_student must be > 0"):
        Dmdd(pre_trained=False, lr_student=-0.1)


def test_the_decoder_skips_feed_each_level_the_encoders_own_map_and_destsegs_has_none() -> None:
    torch.manual_seed(0)
    sizes = [torch.Size((16, 16)), torch.Size((8, 8)), torch.Size((4, 4))]
    encoded = [torch.rand(1, c, *s, requires_grad=True) for c, s in zip((8, 16, 32), sizes, strict=True)]
    deepest = torch.rand(1, 64, 2, 2)
    for skips in (False, True):
        decoder = StudentDecoder(64, (8, 16, 32), skips=skips).eval()
        out = decoder(deepest, sizes, encoded)
        assert [o.shape[1:] for o in out] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
        out[0].sum().backward()
        reached = [e.grad is not None and e.grad.abs().sum() > 0 for e in encoded]
        assert reached == [skips] * 3  # level 1 sees every encoder level through the skips, none without them
        for e in encoded:
            e.grad = None
    with pytest.raises(ValueError, match="needs the encoder's map at every level"):
        StudentDecoder(64, (8, 16, 32), skips=True)(deepest, sizes)
    plain, skipped = DmddModel(pre_trained=False), DmddModel(pre_trained=False, student_skips=True)
    assert not plain.student_decoder.skips and skipped.student_decoder.skips
    images = torch.rand(1, 3, 64, 64)
    shapes = [[f.shape for f in model.student_features(images)[0]] for model in (plain, skipped)]
    assert shapes[0] == shapes[1]
