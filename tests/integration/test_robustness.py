"""Bad input, for both models: each case ends in a clear error naming the problem and the fix, or works correctly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY, copy_category, tiny_datamodule, tiny_engine, tiny_model
from PIL import Image

pytestmark = pytest.mark.slow
MODELS = ["Adps", "Dmdd"]


def _assert_finite_predictions(engine, model, datamodule) -> None:
    for batch in engine.predict(model, datamodule=datamodule):
        assert torch.isfinite(batch.anomaly_map).all() and torch.isfinite(batch.pred_score).all()


@pytest.mark.parametrize("name", MODELS)
def test_image_size_the_strides_do_not_divide(name: str) -> None:
    import anomalib_kd_plugins

    cls = getattr(anomalib_kd_plugins, name)
    with pytest.raises(ValueError, match=r"cannot use images of 60×60.*configure_pre_processor\(image_size="):
        cls(**TINY[name], pre_processor=cls.configure_pre_processor(image_size=(60, 60)))


def test_k_larger_than_the_feature_grid() -> None:
    with pytest.raises(ValueError, match=r"k is larger than the feature grid allows.*choose another k"):
        tiny_model("Adps", k=32)


def test_dmdd_top_k_larger_than_the_map_uses_every_pixel() -> None:
    # DMDD has no k; its analogous size parameter, the top-k of the image score, is clamped to the map
    model = tiny_model("Dmdd", score_top_k=10**6).eval()
    with torch.inference_mode():
        out = model.model(torch.rand(2, 3, 64, 64))
    assert torch.allclose(out.pred_score, out.anomaly_map.flatten(1).mean(1), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_backbone_name(name: str) -> None:
    with pytest.raises(ValueError, match=r"Unknown backbone 'resnet_18'.*Did you mean"):
        tiny_model(name, backbone="resnet_18")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("source", ["missing", "empty"])
def test_anomaly_source_folder_missing_or_without_images(name: str, source: str, tmp_path: Path) -> None:
    folder = tmp_path / "dtd"
    if source == "empty":
        folder.mkdir()
        (folder / "readme.txt").write_text("no images here")
    match = "does not exist" if source == "missing" else "holds no images"
    with pytest.raises(FileNotFoundError, match=rf"{match}.*leave it unset \(None\)"):
        tiny_model(name, anomaly_source_path=str(folder))


@pytest.mark.parametrize("name", MODELS)
def test_nan_inf_and_non_rgb_tensors_are_refused(name: str) -> None:
    from anomalib.data import ImageBatch

    model = tiny_model(name).eval()
    good = torch.rand(2, 3, 64, 64)
    for bad_value in (float("nan"), float("inf")):
        bad = good.clone()
        bad[1, 0, 5, 5] = bad_value
        with pytest.raises(ValueError, match=r"NaN or Inf.*batch index \[1\]"):
            model(bad)
        batch = ImageBatch(image=bad, image_path=["a.png", "b.png"])
        with pytest.raises(ValueError, match=r"NaN or Inf.*\['b.png'\]"):
            model.validation_step(batch)
        model.train()
        with pytest.raises(ValueError, match=r"NaN or Inf.*\['b.png'\]"):
            model.synthesize(batch)
        model.eval()
    with pytest.raises(ValueError, match=r"grayscale.*expand"):
        model(good[:, :1])
    with pytest.raises(ValueError, match=r"RGBA.*image\[:, :3\]"):
        model(torch.cat([good, good[:, :1]], dim=1))
    assert torch.isfinite(model(good).anomaly_map).all()


@pytest.mark.parametrize("name", MODELS)
def test_grayscale_and_rgba_files_are_read_as_rgb(name: str, tiny_root: Path, tmp_path: Path) -> None:
    root = copy_category(tiny_root, tmp_path)
    files = sorted((root / "brick").rglob("*.png"))
    images = [f for f in files if "ground_truth" not in f.parts]
    for i, path in enumerate(images):
        Image.open(path).convert("L" if i % 2 else "RGBA").save(path)
    assert {Image.open(p).mode for p in images} == {"L", "RGBA"}
    model, dm = tiny_model(name), tiny_datamodule(root)
    engine = tiny_engine(tmp_path)
    engine.fit(model, datamodule=dm)
    metrics = engine.test(model, datamodule=dm, verbose=False)[0]
    assert 0.0 <= metrics["image_AUROC"] <= 1.0 and 0.0 <= metrics["pixel_AUROC"] <= 1.0
    _assert_finite_predictions(engine, model, dm)


@pytest.mark.parametrize("name", MODELS)
def test_corrupt_training_image(name: str, tiny_root: Path, tmp_path: Path) -> None:
    root = copy_category(tiny_root, tmp_path)
    corrupt = sorted((root / "brick" / "train" / "good").glob("*.png"))[3]
    corrupt.write_bytes(corrupt.read_bytes()[:100])  # truncated PNG
    model = tiny_model(name)
    with pytest.raises(ValueError, match=rf"1 of 8 train image\(s\) cannot be read.*{corrupt.name}.*Replace or delete"):
        tiny_engine(tmp_path).fit(model, datamodule=tiny_datamodule(root))
    assert corrupt.exists() and len(list(corrupt.parent.glob("*.png"))) == 8  # nothing deleted or moved
    assert not list((tmp_path / "run").rglob("*.ckpt"))  # stopped before training


@pytest.mark.parametrize("name", MODELS)
def test_empty_training_folder(name: str, tiny_root: Path, tmp_path: Path) -> None:
    root = copy_category(tiny_root, tmp_path)
    for path in (root / "brick" / "train" / "good").glob("*.png"):
        path.unlink()
    with pytest.raises(ValueError, match=r"train set is empty: no images were found under .*brick.*train/good/"):
        tiny_engine(tmp_path).fit(tiny_model(name), datamodule=tiny_datamodule(root))


@pytest.mark.parametrize("name", MODELS)
def test_test_set_without_masks(name: str, tiny_root: Path, tmp_path: Path) -> None:
    from anomalib.data import Folder

    brick = tiny_root / "brick"
    dm = Folder(
        name="brick_nomasks",
        root=brick,
        normal_dir="train/good",
        abnormal_dir=["test/scratch", "test/contamination"],
        normal_test_dir="test/good",
        train_batch_size=4,
        eval_batch_size=4,
        num_workers=0,
        seed=0,
    )
    model, engine = tiny_model(name), tiny_engine(tmp_path)
    engine.fit(model, datamodule=dm)
    metrics = engine.test(model, datamodule=dm, verbose=False)[0]
    assert 0.0 <= metrics["image_AUROC"] <= 1.0  # image metrics are computed
    assert "pixel_AUROC" not in metrics  # pixel metrics need masks: skipped, not faked
    _assert_finite_predictions(engine, model, dm)


@pytest.mark.parametrize("name", MODELS)
def test_training_set_of_one_image(name: str, tiny_root: Path, tmp_path: Path) -> None:
    root = copy_category(tiny_root, tmp_path)
    for path in sorted((root / "brick" / "train" / "good").glob("*.png"))[1:]:
        path.unlink()
    model, dm, engine = tiny_model(name), tiny_datamodule(root), tiny_engine(tmp_path, max_epochs=2)
    engine.fit(model, datamodule=dm)
    assert engine.trainer.current_epoch == 2  # one batch of one image per epoch, both epochs trained
    _assert_finite_predictions(engine, model, dm)
