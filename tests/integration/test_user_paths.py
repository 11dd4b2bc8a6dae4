"""Folders and checkpoints as users have them, through the stock ``anomalib`` CLI where that is the user's path:
a data root with non-ASCII characters, and damaged checkpoints, each end before training in one sentence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import anomalib_command, data_args, run_offline, tiny_datamodule, tiny_engine, tiny_model

from anomalib_kd_plugins.components.paths import check_checkpoint_file

pytestmark = pytest.mark.slow
CPU = ["--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "1"]


def test_a_non_ascii_data_root_fails_before_training_naming_its_characters_and_the_fix(
    tiny_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "d3 données" / "probe"
    shutil.copytree(tiny_root / "brick", root / "brick")
    out = tmp_path / "out"
    proc = run_offline(
        anomalib_command("train", "Adps", *data_args(root), *CPU, "--default_root_dir", str(out)), tmp_path
    )
    text = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long messages
    assert proc.returncode != 0
    assert "printable ASCII" in text and "'é' at position" in text, text[-3000:]
    assert "ln -s" in text and "Nothing has been read or trained yet" in text
    assert not list(out.rglob("*.ckpt"))  # nothing trained


def test_an_ascii_symlink_to_a_non_ascii_folder_trains(tiny_root: Path, tmp_path: Path) -> None:
    # the fix the error names: anomalib checks the path it is given, then follows the link
    target = tmp_path / "検査 Prüfung"
    shutil.copytree(tiny_root / "brick", target / "brick")
    link = tmp_path / "ascii_link"
    link.symlink_to(target, target_is_directory=True)
    engine, model = tiny_engine(tmp_path), tiny_model("Adps", visualizer=False)
    engine.fit(model, datamodule=tiny_datamodule(link))
    metrics = engine.test(model, datamodule=tiny_datamodule(link), verbose=False)[0]
    assert 0.0 <= metrics["pixel_AUROC"] <= 1.0 and metrics["image_AUROC"] == metrics["image_AUROC"]


@pytest.fixture(scope="module")
def checkpoint(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Adps checkpoint written by anomalib's Engine."""
    tmp = tmp_path_factory.mktemp("ckpt")
    engine = tiny_engine(tmp)
    engine.fit(tiny_model("Adps", visualizer=False), datamodule=tiny_datamodule(tiny_root))
    return next(Path(tmp).rglob("model.ckpt"))


def test_a_truncated_checkpoint_the_trainer_names_fails_before_lightning_restores_it(
    checkpoint: Path, tiny_root: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:20_000])
    from lightning.pytorch import Trainer

    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.ckpt_path = cut  # Lightning's own way to name the checkpoint to restore
    with pytest.raises(ValueError, match=r"cut\.ckpt \(20,000 bytes\) is not a readable PyTorch checkpoint: truncated"):
        trainer.test(tiny_model("Adps", visualizer=False), datamodule=tiny_datamodule(tiny_root))


def test_empty_missing_and_foreign_files_are_named(checkpoint: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    with pytest.raises(ValueError, match=r"empty\.ckpt is empty \(0 bytes\)"):
        check_checkpoint_file(empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_checkpoint_file(tmp_path / "missing.ckpt")
    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a Lightning checkpoint"):
        check_checkpoint_file(foreign)
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        check_checkpoint_file(text)


def test_our_checkpoints_load_with_weights_only(checkpoint: Path) -> None:
    # this package's checkpoints hold tensors and plain values only: the safe loader reads them whole
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert "state_dict" in loaded and any(k.startswith("model.student.") for k in loaded["state_dict"])
    check_checkpoint_file(checkpoint)  # a good checkpoint passes
