"""KolektorSDD2 linked into anomalib's Folder layout, read back by the ``adps_ksdd2`` config's datamodule."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anomalib_kd_plugins.data.ksdd2 import make_ksdd2_layout


def _fake_ksdd2(root: Path) -> Path:
    """The official layout in miniature: NNNNN.png beside NNNNN_GT.png, defects marked in the mask."""
    rng = np.random.default_rng(0)
    plan = {"train": [False, False, False, True], "test": [False, False, True, True]}
    number = 10000
    for split, defects in plan.items():
        (root / split).mkdir(parents=True)
        for defect in defects:
            cv2.imwrite(str(root / split / f"{number}.png"), rng.integers(0, 255, (64, 24, 3), dtype=np.uint8))
            mask = np.zeros((64, 24), np.uint8)
            if defect:
                mask[20:30, 5:10] = 255
            cv2.imwrite(str(root / split / f"{number}_GT.png"), mask)
            number += 1
    return root


def test_ksdd2_layout_feeds_the_configs_folder_datamodule(tmp_path: Path) -> None:
    from anomalib.data import Folder

    from anomalib_kd_plugins.recipes import by_name

    src = _fake_ksdd2(tmp_path / "KolektorSDD2")
    layout = make_ksdd2_layout(src, tmp_path / "folder")
    assert (layout.train_good, layout.train_defect_skipped, layout.test_good, layout.test_defect) == (3, 1, 2, 2)
    args = {**by_name("adps_ksdd2").data["init_args"], "root": tmp_path / "folder"}
    datamodule = Folder(**args, train_batch_size=2, eval_batch_size=2, num_workers=0)
    datamodule.setup()
    train, test = datamodule.train_data.samples, datamodule.test_data.samples
    assert sorted(Path(p).name for p in train.image_path) == ["10000.png", "10001.png", "10002.png"]
    defective = test[test.label_index == 1]
    assert sorted(Path(p).name for p in defective.image_path) == ["10006.png", "10007.png"]
    assert all(
        Path(m).name == f"{Path(i).stem}_GT.png" for i, m in zip(defective.image_path, defective.mask_path, strict=True)
    )
    assert (src / "train" / "10003.png").is_file()  # the source is untouched


def test_ksdd2_layout_refuses_what_is_not_the_data_set(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="has no train/ subfolder"):
        make_ksdd2_layout(tmp_path, tmp_path / "out")
    src = _fake_ksdd2(tmp_path / "KolektorSDD2")
    (src / "test" / "10007_GT.png").unlink()
    with pytest.raises(ValueError, match=r"1 images without their NNNNN_GT.png mask \(first: 10007.png\)"):
        make_ksdd2_layout(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
