"""Files from real cameras, for both models: 16-bit images, EXIF orientation, unreadable files at predict time, a
missing mask, the wrong model's checkpoint. Each ends in an error that names the file and the fix before anything is
trained or written, or works correctly."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import copy_category, tiny_datamodule, tiny_engine, tiny_model
from lightning.pytorch import Callback
from PIL import Image

from anomalib_kd_plugins.cli import main as cli_main

pytestmark = pytest.mark.slow
MODELS = ["Adps", "Dmdd"]


class CountSteps(Callback):
    """Counts training batches, to prove an error came before the first step."""

    def __init__(self) -> None:
        self.steps = 0

    def on_train_batch_start(self, *args) -> None:
        del args
        self.steps += 1


def _save_16bit(src: Path, dst: Path) -> None:
    """Save an 8-bit image as 16-bit grayscale (v·257: 0 → 0, 255 → 65535), the way inspection cameras write them."""
    gray = np.asarray(Image.open(src).convert("L"), dtype=np.uint16)
    Image.fromarray(gray * 257).save(dst)


def _orient(path: Path, orientation: int) -> None:
    """Give an image file an EXIF orientation tag, pixels unchanged."""
    image = Image.open(path)
    image.load()
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("name", MODELS)
def test_16bit_images_are_refused_before_any_training_step(
    name: str, suffix: str, tiny_root: Path, tmp_path: Path
) -> None:
    from anomalib.data import Folder

    normal = tmp_path / "good"
    normal.mkdir()
    for path in sorted((tiny_root / "brick" / "train" / "good").glob("*.png")):
        _save_16bit(path, normal / f"{path.stem}{suffix}")
    assert {Image.open(p).mode for p in normal.iterdir()} == {"I;16"}
    steps = CountSteps()
    dm = Folder(name="cam16", root=tmp_path, normal_dir="good", train_batch_size=4, num_workers=0, seed=0)
    with pytest.raises(
        ValueError, match=r"(\d) of \1 train image\(s\) are 16-bit.*mode I;16.*turn white.*fix-images SRC DST"
    ):
        tiny_engine(tmp_path, callbacks=[steps]).fit(tiny_model(name), datamodule=dm)
    assert steps.steps == 0
    assert len(list(normal.iterdir())) == 8  # nothing touched


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_fix_images_writes_the_8bit_images_the_16bit_ones_were_made_from(
    suffix: str, tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    originals = sorted((tiny_root / "brick" / "train" / "good").glob("*.png"))
    src = tmp_path / "cam"
    src.mkdir()
    for path in originals:
        _save_16bit(path, src / f"{path.stem}{suffix}")
    (src / "notes.txt").write_text("not an image")
    assert cli_main(["data", "fix-images", str(src), str(tmp_path / "fixed")]) == 0
    assert (
        "8 converted to 8-bit, 0 turned upright, 0 without their EXIF orientation, 1 copied" in capsys.readouterr().out
    )
    for path in originals:
        fixed = Image.open(tmp_path / "fixed" / f"{path.stem}{suffix}")
        assert fixed.mode == "L"
        # exact: the same pixels, so the same maps as the 8-bit images
        np.testing.assert_array_equal(np.asarray(fixed), np.asarray(Image.open(path).convert("L")))
    assert (tmp_path / "fixed" / "notes.txt").read_text() == "not an image"
    assert {Image.open(p).mode for p in src.glob(f"*{suffix}")} == {"I;16"}  # the source is never written to
    assert cli_main(["data", "fix-images", str(src), str(tmp_path / "fixed")]) == 2  # never overwrites
    assert "is not empty" in capsys.readouterr().err


@pytest.mark.parametrize("name", MODELS)
def test_unreadable_file_at_predict_time_is_named_before_the_first_map(
    name: str, tiny_root: Path, tmp_path: Path
) -> None:
    images = tmp_path / "predict"
    shutil.copytree(tiny_root / "brick" / "test" / "scratch", images)
    for path in sorted((tiny_root / "brick" / "test" / "good").glob("*.png")):
        shutil.copy(path, images / f"good_{path.name}")
    truncated = sorted(images.glob("*.png"))[-1]
    truncated.write_bytes(truncated.read_bytes()[:120])
    model, engine = tiny_model(name), tiny_engine(tmp_path)
    with pytest.raises(ValueError, match=rf"1 of 6 predict image\(s\) cannot be read.*{truncated.name}.*Replace or"):
        engine.predict(model, data_path=images)
    assert not [p for p in (tmp_path / "run").rglob("*") if p.suffix in (".png", ".jpg")]  # no map was written
    assert len(list(images.glob("*.png"))) == 6  # nothing moved or deleted


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_of_another_model_or_other_arguments(name: str, tiny_root: Path, tmp_path: Path) -> None:
    other = {"Adps": "Dmdd", "Dmdd": "Adps"}[name]
    engine = tiny_engine(tmp_path)
    engine.fit(tiny_model(name), datamodule=tiny_datamodule(tiny_root))
    ckpt = next((tmp_path / "run").rglob("*.ckpt"))
    saved = torch.load(ckpt, weights_only=False)
    assert saved["anomalib_kd_model"] == name
    with pytest.raises(
        ValueError,
        match=rf"^This checkpoint holds an? {name} model \(saved with backbone='resnet18'"
        rf".*use `--model {name}`",
    ):
        tiny_engine(tmp_path / "other").test(tiny_model(other), datamodule=tiny_datamodule(tiny_root), ckpt_path=ckpt)
    # a checkpoint written before the model name was recorded is recognised by its weights
    del saved["anomalib_kd_model"]
    old = tmp_path / "old.ckpt"
    torch.save(saved, old)
    with pytest.raises(ValueError, match=rf"holds an? {name} model.*use `--model {name}`"):
        tiny_engine(tmp_path / "other").test(tiny_model(other), datamodule=tiny_datamodule(tiny_root), ckpt_path=old)
    # the same model, built with other layers: which arguments differ, not a state_dict dump
    with pytest.raises(
        ValueError,
        match=r"trained with other arguments.*Saved: layers=\['layer1', 'layer2', 'layer3'\]; "
        r"here: layers=\['layer1', 'layer2'\]",
    ):
        tiny_engine(tmp_path / "same").test(
            tiny_model(name, layers=["layer1", "layer2"]), datamodule=tiny_datamodule(tiny_root), ckpt_path=ckpt
        )
    # and the right model still loads it
    metrics = tiny_engine(tmp_path / "ok").test(tiny_model(name), datamodule=tiny_datamodule(tiny_root), ckpt_path=ckpt)
    assert 0.0 <= metrics[0]["image_AUROC"] <= 1.0


@pytest.mark.parametrize("name", MODELS)
def test_exif_orientation_is_named_and_a_mask_that_disagrees_stops_training(
    name: str, tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = copy_category(tiny_root, tmp_path)
    image = sorted((root / "brick" / "test" / "scratch").glob("*.png"))[0]
    mask = root / "brick" / "ground_truth" / "scratch" / f"{image.stem}_mask.png"
    _orient(image, 6)
    with pytest.raises(
        ValueError,
        match=rf"1 of \d+ (val|test) image\(s\) carry an EXIF orientation that their masks do not"
        rf".*{image.name} \(orientation 6; mask .*{mask.name} has 1\).*fix-images SRC DST",
    ):
        engine = tiny_engine(tmp_path)
        engine.fit(tiny_model(name), datamodule=tiny_datamodule(root))
        engine.test(datamodule=tiny_datamodule(root))
    # the same tag on the mask: both are read as stored, so they agree; training goes on and the log names the file
    _orient(mask, 6)
    _orient(sorted((root / "brick" / "train" / "good").glob("*.png"))[0], 8)
    with caplog.at_level(logging.WARNING, logger="anomalib_kd_plugins.components.inputs"):
        engine = tiny_engine(tmp_path / "tagged")
        engine.fit(tiny_model(name), datamodule=tiny_datamodule(root))
        engine.test(datamodule=tiny_datamodule(root), verbose=False)
    text = caplog.text
    assert "1 of 8 train image(s) carry an EXIF orientation" in text and "orientation 8; no mask" in text
    assert f"{image.name} (orientation 6; mask rotated to match)" in text


@pytest.mark.parametrize("name", MODELS)
def test_missing_mask_is_named_before_anomalibs_builder(name: str, tiny_root: Path, tmp_path: Path) -> None:
    root = copy_category(tiny_root, tmp_path)
    image = sorted((root / "brick" / "test" / "scratch").glob("*.png"))[1]
    mask = root / "brick" / "ground_truth" / "scratch" / f"{image.stem}_mask.png"
    mask.unlink()
    with pytest.raises(
        ValueError,
        match=rf"1 file\(s\) of .*brick have no partner"
        rf".*{image.name} \(no mask in .*ground_truth/scratch\).*NAME_mask.png",
    ):
        tiny_engine(tmp_path).fit(tiny_model(name), datamodule=tiny_datamodule(root))
    # and the same for `anomalib test`
    with pytest.raises(ValueError, match=rf"{image.name} \(no mask"):
        tiny_engine(tmp_path).test(tiny_model(name), datamodule=tiny_datamodule(root))


@pytest.mark.parametrize("name", MODELS)
def test_cases_that_already_worked_keep_working(name: str, tiny_root: Path, tmp_path: Path) -> None:
    """A CMYK JPEG and a 4000×3000 photo among small PNGs train; a zero-byte file is listed with the fix."""
    from anomalib.data import Folder

    normal = tmp_path / "good"
    shutil.copytree(tiny_root / "brick" / "train" / "good", normal)
    first = sorted(normal.glob("*.png"))[0]
    Image.open(first).convert("CMYK").save(normal / "cmyk.jpg")
    Image.open(first).convert("RGB").resize((4000, 3000)).save(normal / "large.png")
    dm = Folder(name="mixed", root=tmp_path, normal_dir="good", train_batch_size=4, num_workers=0, seed=0)
    engine = tiny_engine(tmp_path)
    engine.fit(tiny_model(name), datamodule=dm)
    assert all(torch.isfinite(b.anomaly_map).all() for b in engine.predict(datamodule=dm))
    (normal / "empty.png").write_bytes(b"")
    dm = Folder(name="mixed", root=tmp_path, normal_dir="good", train_batch_size=4, num_workers=0, seed=0)
    with pytest.raises(ValueError, match=r"cannot be read: .*empty.png .*Replace or delete"):
        tiny_engine(tmp_path / "again").fit(tiny_model(name), datamodule=dm)
