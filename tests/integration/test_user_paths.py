"""Folders and checkpoints as users have them, through the stock ``anomalib`` CLI where that is the user's path:
a data root with non-ASCII characters, damaged checkpoints and an output folder that cannot be created each end
before training in one sentence that names the path, what is wrong and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import anomalib_command, data_args, run_offline, tiny_datamodule, tiny_engine, tiny_model

from anomalib_kd_plugins.components.paths import CheckedCheckpointIO, check_checkpoint_file, check_output_dir

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
def trained(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """A tiny Adps fitted by anomalib's Engine, and the checkpoint it wrote."""
    tmp = tmp_path_factory.mktemp("ckpt")
    model = tiny_model("Adps", visualizer=False)
    tiny_engine(tmp).fit(model, datamodule=tiny_datamodule(tiny_root))
    return model, next(Path(tmp).rglob("model.ckpt"))


@pytest.fixture(scope="module")
def checkpoint(trained: tuple[object, Path]) -> Path:
    return trained[1]


def test_stock_cli_test_on_a_truncated_checkpoint_names_the_file_before_restoring(
    checkpoint: Path, tiny_root: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:20_000])  # a copy cut off at 20 kB
    out = tmp_path / "out"
    proc = run_offline(
        anomalib_command(
            "test", "Adps", *data_args(tiny_root), *CPU[2:], "--default_root_dir", str(out), "--ckpt_path", str(cut)
        ),
        tmp_path,
    )
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "cut.ckpt (20,000 bytes) is not a readable PyTorch checkpoint: truncated" in text, text[-3000:]
    assert "Copy the file again in full, or train again" in text


def test_engine_test_with_a_truncated_checkpoint_fails_in_one_sentence(
    checkpoint: Path, tiny_root: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:20_000])
    engine = tiny_engine(tmp_path)
    with pytest.raises(ValueError, match=r"cut\.ckpt \(20,000 bytes\) is not a readable PyTorch checkpoint: truncated"):
        engine.test(tiny_model("Adps", visualizer=False), datamodule=tiny_datamodule(tiny_root), ckpt_path=cut)


def test_a_good_checkpoint_restores_through_the_checked_loader_with_identical_maps(
    trained: tuple[object, Path], tiny_root: Path, tmp_path: Path
) -> None:
    model, checkpoint = trained
    fresh = tiny_model("Adps", visualizer=False)
    engine = tiny_engine(tmp_path)
    engine.test(fresh, datamodule=tiny_datamodule(tiny_root), ckpt_path=checkpoint, verbose=False)
    assert isinstance(engine.trainer.strategy.checkpoint_io, CheckedCheckpointIO)  # the checked loader read it
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    model.eval(), fresh.eval()
    with torch.no_grad():
        ours, restored = model.model(images), fresh.model(images)
    assert torch.equal(ours.anomaly_map, restored.anomaly_map) and torch.equal(ours.pred_score, restored.pred_score)


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


def test_stock_cli_train_under_a_file_names_the_file_before_anything_is_created(
    tiny_root: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should go")
    out = blocker / "runs"
    proc = run_offline(
        anomalib_command("train", "Adps", *data_args(tiny_root), *CPU, "--default_root_dir", str(out)), tmp_path
    )
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    squeezed = "".join(text.split())  # rich wraps long paths wherever it likes, at a "/" too
    expected = f"--default_root_dir {out} cannot be created: {blocker} is a file, not a folder"
    assert "".join(expected.split()) in squeezed, text[-3000:]
    assert "Nothing has been trained or written yet" in text
    assert blocker.read_text() == "a file where the output folder should go"  # nothing lost


def test_output_dir_check_names_the_unwritable_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_output_dir(tmp_path / "new" / "deeper")  # a folder that can be made passes, and nothing is created
    assert not (tmp_path / "new").exists()
    locked = tmp_path / "locked"
    locked.mkdir()
    import os

    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode)
    )  # root writes anywhere
    with pytest.raises(PermissionError, match=rf"the folder {locked} is not writable"):
        check_output_dir(locked / "runs")


def test_other_models_keep_anomalibs_own_workspace_behaviour(tmp_path: Path) -> None:
    # the Engine's guard only speaks for this package's models
    from anomalib.engine import Engine
    from anomalib.models import Padim

    blocker = tmp_path / "file"
    blocker.write_text("x")
    engine = Engine(default_root_dir=blocker / "runs")
    assert getattr(Engine._setup_workspace, "checks_output_dir", False)
    with pytest.raises(NotADirectoryError) as raised:
        engine._setup_workspace(Padim(backbone="resnet18", pre_trained=False), versioned_dir=True)
    assert "is a file, not a folder" not in str(raised.value)
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        engine._setup_workspace(tiny_model("Adps", visualizer=False), versioned_dir=True)
