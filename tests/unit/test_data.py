"""Real-photo MVTec-layout data: deterministic, loadable by anomalib's MVTecAD, masks cover visible defects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from anomalib_kd_plugins.data import DEFECTS, BuildConfig, build

SMALL = BuildConfig(image_size=64, num_train=4, num_test_good=2, num_test_per_defect=2)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_deterministic_by_seed(tmp_path: Path) -> None:
    a = build(tmp_path / "a", ["grass", "coins"], SMALL)
    b = build(tmp_path / "b", ["grass", "coins"], SMALL)
    c = build(tmp_path / "c", ["grass", "coins"], BuildConfig(**{**SMALL.__dict__, "seed": 1}))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


@pytest.mark.parametrize("category", ["brick", "coins"])
def test_layout_loads_with_mvtecad(tmp_path: Path, category: str) -> None:
    from anomalib.data import MVTecAD

    root = build(tmp_path, [category], SMALL)
    dm = MVTecAD(root=root, category=category, num_workers=0, train_batch_size=2, eval_batch_size=2)
    dm.setup()
    assert len(dm.train_data) == SMALL.num_train
    assert len(dm.test_data) == SMALL.num_test_good + SMALL.num_test_per_defect * len(DEFECTS)
    batch = next(iter(dm.test_dataloader()))
    assert batch.image.shape[1:] == (3, 64, 64)
    assert set(dm.test_data.samples.label.unique()) == {"good", *DEFECTS}


def test_defect_masks_mark_changed_pixels(tmp_path: Path) -> None:
    root = build(tmp_path, ["brick"], BuildConfig(image_size=128, num_train=2, num_test_good=1, num_test_per_defect=3))
    for defect in DEFECTS:
        for mask_path in sorted((root / "brick" / "ground_truth" / defect).glob("*_mask.png")):
            mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            assert set(np.unique(mask)) <= {0, 255}
            assert (mask > 0).sum() >= 20, mask_path
            assert (mask > 0).mean() < 0.25  # local defects, not whole images
            image = cv2.imread(str(root / "brick" / "test" / defect / mask_path.name.replace("_mask", "")))
            assert image.shape == (128, 128, 3)


def test_cli_builds(tmp_path: Path, python: str) -> None:
    import subprocess

    proc = subprocess.run(
        [
            python,
            "-m",
            "anomalib_kd_plugins",
            "data",
            "build",
            str(tmp_path),
            "--categories",
            "gravel",
            "--num-train",
            "3",
            "--image-size",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "gravel" / "train" / "good").glob("*.png"))) == 3


def test_coin_crops_never_leave_the_photograph() -> None:
    # a crop past the photo's edge shows padding (reflected: fragments of neighbouring coins) at its border
    from skimage import data as skdata

    from anomalib_kd_plugins.data.realphoto import _coin_fits, _coin_regions

    photo, coins = _coin_regions()
    assert len(coins) >= 15
    assert all(_coin_fits(photo, *coin) for coin in coins)
    assert not _coin_fits(photo, 44, 335, 29)  # the top-right coin of skimage's photo reaches past its edge
    assert photo.shape == skdata.coins().shape


def test_a_build_records_its_settings_and_the_suite_refuses_another_build(tmp_path: Path) -> None:
    from anomalib_kd_plugins.data import SUITE_SIZE, check_suite, read_manifest

    root = build(tmp_path / "other", ["grass"], SMALL)
    assert read_manifest(root)["image_size"] == SMALL.image_size
    check_suite(root, SMALL)  # the same settings pass
    with pytest.raises(SystemExit, match=rf"image_size=64 \(the suite uses {SUITE_SIZE}\).*anomalib-kd data build"):
        check_suite(root)
    with pytest.raises(SystemExit, match="image_size=64"):  # building more categories into it does not mix builds
        build(root, ["brick"])
    (root / "realphoto.json").unlink()
    with pytest.raises(SystemExit, match=r"has no realphoto\.json"):
        check_suite(root, SMALL)
