"""Any anomalib image model in the bench: derived CPU recipes, and refusals before anything trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomalib_kd_plugins.bench.driver import main
from anomalib_kd_plugins.bench.peers import derived_recipe
from anomalib_kd_plugins.recipes import LITE0


def test_a_peer_gets_the_offline_teacher_at_the_same_strides(seeded_weights: Path, tmp_path: Path) -> None:
    stfpm = derived_recipe("Stfpm", tmp_path)
    assert stfpm.init_args["backbone"] == LITE0
    assert stfpm.constructor_args()["layers"] == ["blocks.1", "blocks.2", "blocks.4"]  # strides 4/8/16 as layer1-3
    assert stfpm.budget.epochs == 10 and "paper: 100" in stfpm.why
    dfkde = derived_recipe("Dfkde", tmp_path)  # anomalib trains it in one epoch: one pass here too
    assert dfkde.budget.epochs == 1 and dfkde.constructor_args()["layers"] == ["blocks.6"]


def test_draem_gets_procedural_textures_instead_of_the_dtd_download(tmp_path: Path) -> None:
    draem = derived_recipe("Draem", tmp_path)
    assert draem.budget.epochs == 1 and "paper: 700" in draem.why and "260 s an epoch" in draem.why
    textures = sorted(Path(draem.init_args["dtd_dir"]).glob("*.png"))
    assert len(textures) == 64 and textures[0].stat().st_size > 1000
    again = derived_recipe("Draem", tmp_path)  # written once, reused
    assert again.init_args == draem.init_args and sorted(Path(again.init_args["dtd_dir"]).glob("*.png")) == textures


def test_a_model_without_a_backbone_keeps_its_own_pre_processing(seeded_weights: Path, tmp_path: Path) -> None:
    from torchvision.transforms.v2 import Normalize, Resize

    from anomalib_kd_plugins.recipes import build_model, recipe

    draem = build_model(derived_recipe("Draem", tmp_path))
    draem.on_train_start()  # DRAEM's own check: it refuses a Normalize (the bench's first Draem run failed there)
    kinds = [type(t) for t in draem.pre_processor.transform.transforms]
    assert kinds == [Resize] and draem.pre_processor.transform.transforms[0].size == [128, 128]
    patchcore = build_model(recipe("Patchcore", "cpu"))  # a backbone: the teacher's own statistics, as before
    normalize = [t for t in patchcore.pre_processor.transform.transforms if isinstance(t, Normalize)]
    assert normalize and normalize[0].mean == [0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("NoSuchModel", "Unknown model 'NoSuchModel'"),
        ("EfficientAd", "cannot run offline here: it needs its pretrained PDN teacher weights"),
        ("AiVad", "is not an image model"),
        ("Fastflow", "Backbone tf_efficientnet_lite0 is not supported"),
        ("Patchcore@big", "optionally @SIZE"),
    ],
)
def test_the_bench_refuses_a_model_it_cannot_run_before_training(
    model: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    assert main(["--models", "Patchcore", model, "--out", str(out), "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anomalib-kd bench: ") and says in err, err
    assert not (out / "runs").exists() and not (tmp_path / "data").exists()  # nothing built, nothing trained


def test_coreset_workers_fix_glibcs_mmap_threshold_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from anomalib_kd_plugins.bench.driver import worker_env

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert worker_env("Patchcore")["MALLOC_MMAP_THRESHOLD_"] == str(8 * 2**20)  # its coreset loop stays near 1 GB
    assert "MALLOC_MMAP_THRESHOLD_" not in worker_env("Adps")  # a trained model runs as anomalib train runs it
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert worker_env("Patchcore")["MALLOC_MMAP_THRESHOLD_"] == "131072"
