"""Scale-out is Lightning's: the stock CLI trains and tests both models with DDP over 2 CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY, cli_flags

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
# the CPU recipes' teacher, given alone: its stride-4/8/16 layers are picked from timm's feature_info. A timm
# features_only EfficientNet student ran blocks past the deepest distilled layer, so DDP had to be told about unused
# parameters (a resnet18 student uses every parameter and would not catch that)
LITE0 = ["--model.backbone", "tf_efficientnet_lite0"]


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
def test_ddp_two_cpu_processes_train_and_test(name: str, tiny_root: Path, seeded_weights: Path, tmp_path: Path) -> None:
    del seeded_weights  # the lite0 ImageNet weights, from the offline cache
    small = cli_flags({k: v for k, v in TINY[name].items() if k not in ("backbone", "layers", "pre_trained")})
    args = [str(BIN / "anomalib"), "train", "--model", name, *LITE0, *small]
    args += ["--data", "anomalib.data.MVTecAD", "--data.root", str(tiny_root), "--data.category", "brick"]
    args += ["--data.num_workers", "0", "--data.train_batch_size", "2", "--data.eval_batch_size", "4"]
    args += ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    # one epoch: two steps a rank (4 images, batch 2), for Dmdd its student step then its segmentation step, so both
    # phases' parameters go through DDP's gradient reducer
    args += ["--trainer.max_epochs", "1", "--default_root_dir", str(tmp_path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log
    assert "world_size: 2" in log or "MEMBER: 2/2" in log
    metrics = {}
    for metric in ("image_AUROC", "pixel_AUROC"):  # the test table rank 0 prints
        line = next(line for line in log.splitlines() if metric in line and "│" in line)
        metrics[metric] = float(line.split("│")[-2].strip())
    assert all(0.0 <= v <= 1.0 for v in metrics.values()), metrics
    assert len(list(tmp_path.rglob("model.ckpt"))) == 1  # rank 0 writes the one checkpoint
