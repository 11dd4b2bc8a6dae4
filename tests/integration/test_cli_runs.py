"""Training runs through the stock ``anomalib`` CLI and the demo: every ablation option, a TensorBoard logger, and
the demo's console (a separate file from test_cli.py so that pytest-xdist runs the two on both workers)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import anomalib_command as _anomalib
from helpers import data_args as _data_args
from helpers import run_cli_steps, run_offline

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


ABLATIONS = [
    ("Adps", ["--model.fusion", "difference"]),
    ("Adps", ["--model.fusion", "concat"]),
    ("Adps", ["--model.psm", "false"]),
    ("Adps", ["--model.psm_input", "teacher_only"]),
    ("Adps", ["--model.psm_input", "student_only"]),
    ("Adps", ["--model.asym_stage", "2"]),
    ("Dmdd", ["--model.decouple", "false"]),
    ("Dmdd", ["--model.lambda_ngm", "0", "--model.lambda_aim", "0.5"]),
]


def test_every_ablation_variant_trains_through_the_stock_cli(tiny_root: Path, tmp_path: Path) -> None:
    """`anomalib fit --model M --model.OPTION V` for every ablation option, in one interpreter (the console script's
    class, AnomalibCLI, once per variant: the import is paid once, the parsing and training are each variant's own)."""
    runs = []
    for i, (model, option) in enumerate(ABLATIONS):
        cpu = [
            "--trainer.max_epochs",
            "1",
            "--trainer.accelerator",
            "cpu",
            "--default_root_dir",
            str(tmp_path / str(i)),
        ]
        runs.append(_anomalib("fit", model, *option, *_data_args(tiny_root), *cpu)[1:])
    proc, results = run_cli_steps([(str(i), args) for i, args in enumerate(runs)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for i in range(len(runs)):
        assert results.get(str(i), "").startswith(f"[{i}] OK"), (ABLATIONS[i], results.get(str(i)), proc.stderr[-4000:])
    for i, (model, option) in enumerate(ABLATIONS):
        ckpt = torch.load(next((tmp_path / str(i)).rglob("model.ckpt")), map_location="cpu", weights_only=False)
        assert ckpt["anomalib_kd_model"] == model
        for key, value in zip(option[0::2], option[1::2], strict=True):
            # the option reached the model that was trained
            assert ckpt["hyper_parameters"][key.removeprefix("--model.")] == yaml.safe_load(value), (model, option)


def test_tensorboard_logger_records_losses_and_metrics(tiny_root: Path, tmp_path: Path) -> None:
    """`anomalib train --model Adps --trainer.logger TensorBoardLogger`: losses and test metrics reach it."""
    from tensorboardX.proto import event_pb2

    logger = ["--trainer.logger", "TensorBoardLogger"]
    logger += ["--trainer.logger.save_dir", str(tmp_path / "tb")]
    cpu = ["--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--default_root_dir", str(tmp_path)]
    proc = run_offline(_anomalib("train", "Adps", *_data_args(tiny_root), *cpu, *logger), tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "but have no logger configured" not in proc.stderr and "infer the `batch_size`" not in proc.stderr
    tags = set()
    for path in (tmp_path / "tb").rglob("events.out.tfevents.*"):
        data, offset = path.read_bytes(), 0
        while offset < len(data):  # TFRecord framing: length (8), crc (4), payload, crc (4)
            length = int.from_bytes(data[offset : offset + 8], "little")
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            tags |= {value.tag for value in event.summary.value}
            offset += 16 + length
    assert {"train_loss", "loss_distill", "loss_seg", "pixel_AUROC", "image_AUROC"} <= tags, tags


def test_demo_prints_no_python_warning(tmp_path: Path) -> None:
    """A user's `anomalib-kd demo` (default warning filters, fresh output folder): our lines and the table only."""
    proc = run_offline([str(BIN / "anomalib-kd"), "demo", "--epochs", "1", "--out", str(tmp_path / "d")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    output = proc.stdout + proc.stderr
    warning_lines = [
        line for line in output.splitlines() if re.search(r"\w*Warning: |\.py:\d+: ", line) or "warnings.warn" in line
    ]
    assert warning_lines == [], warning_lines[:10]
    for notice in ("Tip:", "will override", "GPU available", "LitLogger"):  # Lightning's tips and notices
        assert notice not in output, [line for line in output.splitlines() if notice in line][:3]
    assert "metric (brick)" in proc.stdout and "pixel AP" in proc.stdout
