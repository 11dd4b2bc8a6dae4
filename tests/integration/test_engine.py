"""anomalib's unchanged Engine drives Adps: fit, test, predict, export(torch), weights-only checkpoint reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import TINY, tiny_model

from anomalib_kd_plugins.models.adps.schedule import multistep_milestones

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["Adps", "Dmdd"])
def trained(request: pytest.FixtureRequest, tiny_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One short fit per model on the tiny real-photo brick category, shared by the tests of this module."""
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    from anomalib_kd_plugins import PaperEvaluator

    torch.manual_seed(0)
    model = tiny_model(request.param, evaluator=PaperEvaluator())
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    root = tmp_path_factory.mktemp(f"engine_{request.param}")
    engine = Engine(max_epochs=2, accelerator="cpu", devices=1, default_root_dir=root, logger=False)
    engine.fit(model, datamodule=dm)
    return engine, model, dm, root


def test_default_metrics_are_anomalib_defaults_so_benchmarks_can_mix_models() -> None:
    from anomalib.models import Patchcore

    def names(model) -> list[str]:
        return sorted(m.name for m in model.evaluator.test_metrics)

    baseline = names(Patchcore(backbone="resnet18", pre_trained=False))
    assert names(tiny_model("Adps")) == names(tiny_model("Dmdd")) == baseline


def test_fit_and_test_report_all_metrics(trained) -> None:
    engine, model, dm, _ = trained
    metrics = engine.test(model, datamodule=dm, verbose=False)[0]
    for key in ("image_AUROC", "image_F1Score", "pixel_AUROC", "pixel_F1Score", "pixel_AUPR", "pixel_AUPRO"):
        assert key in metrics and 0.0 <= float(metrics[key]) <= 1.0, key
    assert engine.trainer.current_epoch == 2


def test_predict_gives_maps_at_input_size(trained) -> None:
    engine, model, dm, _ = trained
    predictions = engine.predict(model, datamodule=dm)
    batch = predictions[0]
    assert batch.anomaly_map.shape[-2:] == (64, 64)
    assert batch.pred_score.shape == (batch.image.shape[0],)
    assert torch.isfinite(batch.anomaly_map).all()
    assert batch.pred_mask is not None and batch.pred_label is not None


def test_export_torch_and_inferencer(trained, tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from anomalib.deploy import ExportType, TorchInferencer

    engine, model, _, root = trained
    path = engine.export(model, ExportType.TORCH, export_root=root / "export")
    assert Path(path).is_file()
    monkeypatch.setenv("TRUST_REMOTE_CODE", "1")
    inferencer = TorchInferencer(path=path, device="cpu")
    image = next((tiny_root / "brick" / "test" / "scratch").glob("*.png"))
    result = inferencer.predict(str(image))
    assert result.anomaly_map.shape[-2:] == (64, 64)
    assert torch.isfinite(result.pred_score).all()


def test_checkpoint_reloads_under_weights_only_with_identical_maps(trained, tmp_path: Path) -> None:
    engine, model, dm, _ = trained
    ckpt = tmp_path / "model.ckpt"
    engine.trainer.save_checkpoint(ckpt)
    hparams = torch.load(ckpt, weights_only=True, map_location="cpu")["hyper_parameters"]
    assert hparams["backbone"] == "resnet18" and hparams["pre_trained"] is False
    reloaded = type(model).load_from_checkpoint(ckpt, weights_only=True).eval()
    model.eval()
    images = next(iter(dm.test_dataloader())).image
    images = model.pre_processor.transform(images)
    with torch.no_grad():
        a, b = model.model(images), reloaded.model(images)
    assert torch.equal(a.anomaly_map, b.anomaly_map) and torch.equal(a.pred_score, b.pred_score)


def test_lr_schedule_follows_max_epochs(trained) -> None:
    engine, model, _, _ = trained
    if type(model).__name__ != "Adps":
        pytest.skip("ADPS's step decay; DMDD's schedule is tested below")
    factor = engine.trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    assert factor.milestones == (2,)  # round(0.8·2) = round(0.9·2) = 2
    assert multistep_milestones(300, (0.8, 0.9)) == [240, 270]  # the paper's epochs
    assert multistep_milestones(None, (0.8, 0.9)) == [240, 270]
    assert multistep_milestones(40, (0.8, 0.9), start=30) == [38, 39]  # after a 30-epoch warm-up: 0.8·10, 0.9·10
    assert model.lr == 1e-4 and factor.gamma == 0.2 and factor.warmup_factor == 1.0


def test_adps_warmup_epochs_train_the_student_alone_on_clean_images(tiny_root: Path, tmp_path: Path) -> None:
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    model = tiny_model("Adps", student_warmup_epochs=1, probe_images=0)
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    model.synthesizer.forward = None  # a warm-up step must not synthesise: calling it would raise
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    Engine(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=False).fit(
        model, datamodule=dm
    )
    after = model.model.state_dict()
    moved = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert moved == {"student", "anomaly_map_generator"}  # not the PSM nor the teacher (and the fusion statistics)
    with pytest.raises(ValueError, match="needs the student's distillation"):
        tiny_model("Adps", student_warmup_epochs=2, psm_input="teacher_only")


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_training_steps_synthesise_on_the_augmented_views_and_the_probe_keeps_the_loaded_images(
    name: str, tiny_root: Path, tmp_path: Path
) -> None:
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    from anomalib_kd_plugins.components.mixin import SyntheticAnomalyKDMixin

    torch.manual_seed(0)
    model = tiny_model(name, train_augment="flip", probe_images=4)
    views, loaded, viewed, synthesised = model.augment, [], [], []

    def record_views(images: torch.Tensor) -> torch.Tensor:
        loaded.append(images.clone())
        viewed.append(views(images))
        return viewed[-1]

    def record_synthesis(batch, images=None):
        synthesised.append(images)
        return SyntheticAnomalyKDMixin.synthesize(model, batch, images)

    model.augment, model.synthesize = record_views, record_synthesis
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    Engine(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=False).fit(
        model, datamodule=dm
    )
    assert synthesised and len(synthesised) == len(viewed)
    assert all(torch.equal(s, v) for s, v in zip(synthesised, viewed, strict=True))  # the views, not the loads
    assert any(not torch.equal(v, x) for v, x in zip(viewed, loaded, strict=True))  # some image was flipped
    assert torch.equal(model._probe_clean, loaded[0][:4])  # the curves measure the images as loaded


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_curves_follow_a_probe_set_that_grows_after_the_first_epoch(name: str, tiny_root: Path, tmp_path: Path) -> None:
    """With fewer training images than ``probe_images`` (8 < 12), the clean probe images grow in the second epoch;
    the curves measure them with the teacher's features of the images they are, not of the first epoch's."""
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from lightning.pytorch.loggers import CSVLogger

    torch.manual_seed(0)
    model = tiny_model(name, probe_images=12)
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    logger = CSVLogger(tmp_path, name="curves")
    Engine(max_epochs=2, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=logger).fit(
        model, datamodule=dm
    )
    assert len(model._probe_clean) == 12
    with torch.no_grad():
        expected = model.model.eval().student_distances(model._probe_clean)
    import pandas as pd

    curve = pd.read_csv(Path(logger.log_dir) / "metrics.csv").dropna(
        subset=[f"student_distance/{next(iter(expected))}"]
    )
    assert len(curve) == 2  # both epochs logged
    last = curve.iloc[-1]
    for key, value in expected.items():  # the last epoch's curve is the final student on all 12 images
        assert float(last[f"student_distance/{key}"]) == pytest.approx(float(value), rel=1e-4)


@pytest.mark.parametrize(
    ("name", "schedule", "student_only_epochs"),
    [("Adps", {"student_warmup_epochs": 1}, 1), ("Dmdd", {"student_warmup_epochs": 1, "student_phase_steps": 2}, 2)],
)
def test_curves_measure_the_head_from_its_first_step_and_leave_the_fit_unchanged(
    name: str, schedule: dict, student_only_epochs: int, tiny_root: Path, tmp_path: Path
) -> None:
    """The student's keys are logged every epoch, the head's (seg, fused) from the first epoch with a head step on:
    Adps's after its warm-up, Dmdd's after its warm-up and its student phase (2 batches an epoch: the student's
    4 steps fill epochs 0-1). A seeded fit trains the same weights with the curves as without them."""
    import pandas as pd
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from lightning.pytorch.loggers import CSVLogger

    def fit(logger: CSVLogger | bool):
        torch.manual_seed(0)
        model = tiny_model(name, probe_images=4, **schedule)
        dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
        engine = Engine(max_epochs=3, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=logger)
        engine.fit(model, datamodule=dm)
        return model

    logger = CSVLogger(tmp_path, name="curves")
    with_curves, without = fit(logger), fit(False)
    frame = pd.read_csv(Path(logger.log_dir) / "metrics.csv").dropna(subset=["probe/pixel_AP_kd"])
    assert frame["epoch"].tolist() == [0, 1, 2]
    student_key = next(k for k in frame if k.startswith("student_distance/"))
    assert frame.dropna(subset=[student_key])["epoch"].tolist() == [0, 1, 2]
    for key in ("probe/pixel_AP_seg", "probe/pixel_AP_fused"):
        assert frame.dropna(subset=[key])["epoch"].tolist() == list(range(student_only_epochs, 3)), key
    trained, plain = with_curves.model.state_dict(), without.model.state_dict()
    assert all(torch.equal(trained[k], plain[k]) for k in plain)


def test_adps_training_only_moves_student_and_psm(tiny_root: Path, tmp_path: Path) -> None:
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    model = tiny_model("Adps")
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    Engine(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=False).fit(
        model, datamodule=dm
    )
    after = model.model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    # the teacher (and its BN statistics) stay frozen; the map fusion's statistics are measured after the fit
    assert changed == {"student", "psm", "anomaly_map_generator"}
    assert not torch.equal(after["anomaly_map_generator.fusion.stats"], before["anomaly_map_generator.fusion.stats"])


def test_anomaly_source_folder_errors(tmp_path: Path) -> None:
    from anomalib_kd_plugins import Adps

    with pytest.raises(FileNotFoundError, match="does not exist"):
        Adps(**TINY["Adps"], anomaly_source_path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        Adps(**TINY["Adps"], anomaly_source_path=str(tmp_path / "empty"))


def test_bad_image_size_fails_before_training() -> None:
    from anomalib_kd_plugins import Adps

    with pytest.raises(ValueError, match="multiples of k × 16 = 32"):
        Adps(**TINY["Adps"], pre_processor=Adps.configure_pre_processor(image_size=(100, 100)))


@pytest.mark.skipif(os.cpu_count() == 1, reason="needs a second core for speed only")
def test_texture_folder_synthesis(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from anomalib_kd_plugins.components.synthesis import AnomalySynthesizer

    (tmp_path / "dtd" / "banded").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "dtd" / "banded" / "a.jpg"), (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8))
    synth = AnomalySynthesizer(str(tmp_path / "dtd"), probability=1.0)
    images = torch.zeros(2, 3, 32, 32)
    out, mask = synth(images)
    assert mask.shape == (2, 1, 32, 32) and mask.sum() > 0
    assert torch.all(out[mask.expand_as(out) == 0] == 0)  # untouched outside the mask


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_dmdd_phase_two_keeps_the_student_bit_identical(tiny_root: Path, tmp_path: Path) -> None:
    """Two-phase schedule: the student (and its BN statistics) moves in phase 1 and is frozen in phase 2."""
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from lightning.pytorch import Callback

    # 2 epochs × 2 batches: steps 0-1 student, 2-3 seg; the cosine lr of the student: 0.4 at step 0, 0.2 at step 1
    model = tiny_model("Dmdd", student_phase_fraction=0.5, student_lr_schedule="cosine")
    snapshots: dict[str, dict[str, torch.Tensor]] = {}

    class Snap(Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if trainer.current_epoch == 0:
                snapshots["student"] = {f"{i}": _snapshot(m) for i, m in enumerate(pl_module.model.student_modules())}
                snapshots["seg"] = _snapshot(pl_module.model.segmentation)

    start = {f"{i}": _snapshot(m) for i, m in enumerate(model.model.student_modules())}
    seg_start = _snapshot(model.model.segmentation)
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    engine = Engine(
        max_epochs=2, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=False, callbacks=[Snap()]
    )
    engine.fit(model, datamodule=dm)
    assert model.phase(0) == "segmentation" and model.total_steps() == 4
    assert engine.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.2)  # reached the real optimiser
    end = {f"{i}": _snapshot(m) for i, m in enumerate(model.model.student_modules())}
    for i in end:
        assert any(not torch.equal(start[i][k], snapshots["student"][i][k]) for k in end[i]), "phase 1 trains"
        for key, value in end[i].items():
            assert torch.equal(value, snapshots["student"][i][key]), f"student {i}.{key} moved in phase 2"
    seg_end = _snapshot(model.model.segmentation)
    assert all(torch.equal(seg_start[k], snapshots["seg"][k]) for k in seg_end), "seg net idle in phase 1"
    assert any(not torch.equal(seg_end[k], snapshots["seg"][k]) for k in seg_end), "phase 2 trains the seg net"


def test_dmdd_joint_schedule_trains_both(tiny_root: Path, tmp_path: Path) -> None:
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    model = tiny_model("Dmdd", schedule="joint", aim="margin")
    student, seg = _snapshot(model.model.student_encoder), _snapshot(model.model.segmentation)
    dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
    Engine(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=False).fit(
        model, datamodule=dm
    )
    assert model.phase(0) == "joint"
    assert any(not torch.equal(v, model.model.student_encoder.state_dict()[k]) for k, v in student.items())
    assert any(not torch.equal(v, model.model.segmentation.state_dict()[k]) for k, v in seg.items())


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_the_curves_read_the_single_view_kd_map_whatever_kd_views_says(
    name: str, tiny_root: Path, tmp_path: Path
) -> None:
    """``kd_views`` averages the KD map of the fit's calibration, validation and tests over views; the learning curves
    keep the single view that training distils (and its cost): a fit with curves runs the views' extra passes exactly
    as often as one without them."""
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from lightning.pytorch.loggers import CSVLogger

    def view_passes(logger: CSVLogger | bool) -> int:
        torch.manual_seed(0)
        model = tiny_model(name, probe_images=4, map_fusion="seg+kd", kd_views="flip")
        calls = []
        single = model.model.kd_map_of
        model.model.kd_map_of = lambda images: calls.append(len(images)) or single(images)
        dm = MVTecAD(root=tiny_root, category="brick", train_batch_size=4, eval_batch_size=4, num_workers=0)
        engine = Engine(max_epochs=2, accelerator="cpu", devices=1, default_root_dir=tmp_path, logger=logger)
        engine.fit(model, datamodule=dm)
        return sum(calls)

    with_curves, without = view_passes(CSVLogger(tmp_path, name="curves")), view_passes(False)
    assert without > 0  # the fit's calibration and validation do see the views
    assert with_curves == without
