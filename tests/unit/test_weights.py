"""Offline weights: the seeded lite0 weights are the real ImageNet ones, and missing weights say how to seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def test_seeded_lite0_classifies_a_cat(seeded_weights: Path) -> None:
    import skimage.data
    import timm

    assert seeded_weights.is_file()
    model = timm.create_model("tf_efficientnet_lite0", pretrained=True).eval()
    img = torch.tensor(skimage.data.chelsea()).permute(2, 0, 1).float()[None] / 255
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", align_corners=False)
    mean, std = (torch.tensor(model.pretrained_cfg[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        probs = model((img - mean) / std).softmax(1)
    assert probs.argmax().item() == 285  # ImageNet "Egyptian cat"
    assert probs.max().item() > 0.5


def test_unchanged_patchcore_loads_seeded_weights(seeded_weights: Path) -> None:
    from anomalib.models import Patchcore
    from safetensors.torch import load_file

    model = Patchcore(backbone="tf_efficientnet_lite0", layers=["blocks.2", "blocks.4"], pre_trained=True)
    seeded = load_file(str(seeded_weights))
    extractor = model.model.feature_extractor.feature_extractor
    assert torch.equal(extractor.state_dict()["conv_stem.weight"], seeded["conv_stem.weight"])


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "anomalib_kd_plugins", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_seed_from_user_file_round_trips(tmp_path: Path) -> None:
    import timm

    state = timm.create_model("resnet18", pretrained=False).state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "mine.pth")
    cache = tmp_path / "hub"
    proc = _cli(
        "weights", "seed", "--from", str(tmp_path / "mine.pth"), "--timm-name", "resnet18", "--cache-dir", str(cache)
    )
    assert proc.returncode == 0, proc.stderr
    code = (
        "import timm, torch, sys; m = timm.create_model('resnet18', pretrained=True); "
        f"ref = torch.load(r'{tmp_path / 'mine.pth'}', weights_only=True)['state_dict']; "
        "print(torch.equal(m.state_dict()['conv1.weight'], ref['module.conv1.weight']))"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_seed_rejects_weights_of_another_architecture(tmp_path: Path) -> None:
    import timm

    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "r18.pth")
    proc = _cli(
        "weights", "seed", "--from", str(tmp_path / "r18.pth"), "--timm-name", "resnet34", "--cache-dir", str(tmp_path)
    )
    assert proc.returncode == 2
    assert "do not fit timm's 'resnet34'" in proc.stderr


def test_missing_offline_weights_name_the_seed_command(tmp_path: Path) -> None:
    code = (
        "from anomalib_kd_plugins import Adps\n"
        "try:\n"
        "    Adps(backbone='tf_efficientnet_lite0', layers=['blocks.1', 'blocks.2', 'blocks.4'], pre_trained=True)\n"
        "except RuntimeError as e:\n    print(e)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "anomalib-kd weights seed" in out.stdout, out.stdout + out.stderr[-2000:]


@pytest.mark.parametrize("timm_name", ["not_a_model"])
def test_seed_rejects_unknown_timm_name(tmp_path: Path, timm_name: str) -> None:
    torch.save({"w": torch.zeros(1)}, tmp_path / "x.pth")
    proc = _cli(
        "weights", "seed", "--from", str(tmp_path / "x.pth"), "--timm-name", timm_name, "--cache-dir", str(tmp_path)
    )
    assert proc.returncode == 2 and "not a timm model name" in proc.stderr
