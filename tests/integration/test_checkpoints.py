"""Checkpoints resume exactly where they stopped, and the same seed reproduces the same metrics (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from anomalib.callbacks.checkpoint import ModelCheckpoint
from helpers import tiny_datamodule, tiny_model
from lightning.pytorch import Callback, seed_everything

pytestmark = pytest.mark.slow


class ScheduleLog(Callback):
    """Records each epoch's learning rates, DMDD phase and optimiser-state size; optionally stops after an epoch."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.epochs: dict[int, tuple] = {}
        self.stop_after = stop_after

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        lrs = tuple(g["lr"] for opt in trainer.optimizers for g in opt.param_groups)
        phase = pl_module.phase(0) if hasattr(pl_module, "phase") else None
        state = sum(len(opt.state) for opt in trainer.optimizers)
        self.epochs[trainer.current_epoch] = (lrs, phase, state > 0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        del pl_module
        if trainer.current_epoch == self.stop_after:
            trainer.should_stop = True  # an interrupted run: the checkpoint of this epoch is all that is left


def _engine(tmp_path: Path, callbacks: list) -> object:
    from anomalib.engine import Engine

    return Engine(
        max_epochs=4,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
        callbacks=callbacks,
        check_val_every_n_epoch=4,
    )


OPTIONS = {"Adps": {"lr_decay_epochs": (0.5, 0.75)}, "Dmdd": {"student_phase_fraction": 0.5}}


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_resume_continues_the_schedule_where_it_stopped(name: str, tiny_root: Path, tmp_path: Path) -> None:
    full = ScheduleLog()
    _engine(tmp_path / "full", [full]).fit(tiny_model(name, **OPTIONS[name]), datamodule=tiny_datamodule(tiny_root))
    assert sorted(full.epochs) == [0, 1, 2, 3]
    if name == "Adps":  # MultiStepLR ×0.2 at epochs 2 and 3 (50 %, 75 % of 4)
        lr = full.epochs[0][0][0]
        assert [e[0][0] for e in full.epochs.values()] == pytest.approx([lr, lr, lr * 0.2, lr * 0.04])
    else:  # the student phase is the first half
        assert [e[1] for e in full.epochs.values()] == ["student", "student", "segmentation", "segmentation"]

    stopped = ScheduleLog(stop_after=1)
    # anomalib's ModelCheckpoint subclass replaces the Engine's default one; save after every training epoch
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_epochs=1, save_on_train_epoch_end=True)
    _engine(tmp_path / "a", [stopped, ckpt]).fit(
        tiny_model(name, **OPTIONS[name]), datamodule=tiny_datamodule(tiny_root)
    )
    assert sorted(stopped.epochs) == [0, 1]

    resumed = ScheduleLog()
    model = tiny_model(name, **OPTIONS[name])
    last = tmp_path / "ckpt" / "last.ckpt"
    _engine(tmp_path / "b", [resumed]).fit(model, datamodule=tiny_datamodule(tiny_root), ckpt_path=last)
    assert sorted(resumed.epochs) == [2, 3]
    for epoch in (2, 3):
        lrs, phase, has_state = resumed.epochs[epoch]
        assert lrs == pytest.approx(full.epochs[epoch][0]) and phase == full.epochs[epoch][1]
        assert has_state  # optimiser state (moments/momenta) restored, not restarted


def _fit_and_test(name: str, root: Path, workdir: Path) -> dict[str, float]:
    seed_everything(7, workers=True)
    model, dm = tiny_model(name), tiny_datamodule(root)
    engine = _engine(workdir, [])
    engine.fit(model, datamodule=dm)
    return {k: float(v) for k, v in engine.test(model, datamodule=dm, verbose=False)[0].items()}


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_same_seed_same_metrics(name: str, tiny_root: Path, tmp_path: Path) -> None:
    first = _fit_and_test(name, tiny_root, tmp_path / "1")
    second = _fit_and_test(name, tiny_root, tmp_path / "2")
    assert first == second  # bit-identical on CPU
    assert set(first) >= {"image_AUROC", "pixel_AUROC", "pixel_F1Score"}
