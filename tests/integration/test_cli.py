"""The stock ``anomalib`` executable and the ``anomalib-kd`` wrapper drive Adps (subprocesses, fresh interpreters)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from helpers import TINY_FLAGS, run_cli_steps, run_offline
from helpers import anomalib_command as _anomalib
from helpers import data_args as _data_args

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("model", ["Adps", "Dmdd"])
def test_stock_anomalib_train_test_predict_export(model: str, tiny_root: Path, tmp_path: Path) -> None:
    """`anomalib train` (the console script, a fresh interpreter: the registration hook), then `anomalib test`,
    `predict`, `export` to OpenVINO (FP32 for Dmdd, INT8 PTQ for Adps: the INT8 export is the FP32 export plus NNCF,
    so each model's run covers the export path once) and `test` with the other model's name on the checkpoint."""
    cpu = ["--trainer.max_epochs", "1", "--trainer.accelerator", "cpu"]
    train = run_offline(
        _anomalib("train", model, *_data_args(tiny_root), *cpu, "--default_root_dir", str(tmp_path)), tmp_path
    )
    assert train.returncode == 0, train.stderr[-4000:]
    ckpts = list(tmp_path.rglob("model.ckpt"))
    assert len(ckpts) == 1 and model in str(ckpts[0])
    assert "pixel_AUROC" in train.stdout + train.stderr
    ckpt = ["--ckpt_path", str(ckpts[0])]

    images = tiny_root / "brick" / "test" / "scratch"
    pred_dir, export_dir = tmp_path / "pred", tmp_path / "exp"
    ov_args = ["--export_type", "openvino", "--input_size", "[64,64]", "--default_root_dir", str(export_dir)]
    if model == "Adps":
        # INT8 post-training quantization (NNCF), calibrated on the datamodule given with --data; the flags do not
        # depend on the model, so the CLI path runs once (both models' INT8 graphs are checked in test_export)
        ov_args += ["--compression_type", "INT8_PTQ", *_data_args(tiny_root)]
    other = {"Adps": "Dmdd", "Dmdd": "Adps"}[model]
    steps = {
        "test": ["test", model, *_data_args(tiny_root), *ckpt, "--default_root_dir", str(tmp_path)],
        "predict": ["predict", model, "--data", str(images), *ckpt, "--default_root_dir", str(pred_dir)],
        # torch export via the same Engine.export: test_engine (in-process); ONNX/OpenVINO parity: test_export
        "openvino": ["export", model, *ckpt, *ov_args],
        "wrong": ["test", other, *_data_args(tiny_root), *ckpt, "--default_root_dir", str(tmp_path / "x")],
    }
    # the steps after `train` in one interpreter, through the console script's class (helpers.run_cli_steps)
    proc, results = run_cli_steps([(name, _anomalib(*args)[1:]) for name, args in steps.items()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in steps:
        if name != "wrong":
            assert results.get(name, "").startswith(f"[{name}] OK"), (results.get(name), proc.stderr[-4000:])

    assert len(list(pred_dir.rglob("*.png"))) >= len(list(images.glob("*.png")))
    xml = list(export_dir.rglob("openvino/model.xml"))
    assert len(xml) == 1 and xml[0].with_suffix(".bin").stat().st_size > 10_000
    assert ("FakeQuantize" in xml[0].read_text()) == (model == "Adps")  # INT8 for Adps only, FP32 for Dmdd

    message = results.get("wrong", "")
    assert message.startswith("[wrong] FAILED"), message[-4000:]
    assert f"ValueError: This checkpoint holds {'an' if model == 'Adps' else 'a'} {model} model" in message, message[
        -4000:
    ]
    assert f"use `--model {model}`" in message and "size mismatch" not in message


def test_wrapper_works_with_the_hook_off(tiny_root: Path, tmp_path: Path) -> None:
    proc = run_offline(
        [
            str(BIN / "anomalib-kd"),
            "train",
            "--model",
            "Adps",
            *TINY_FLAGS["Adps"],
            *_data_args(tiny_root),
            "--trainer.max_epochs",
            "1",
            "--trainer.accelerator",
            "cpu",
            "--default_root_dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env={"ANOMALIB_KD_PLUGINS_AUTOLOAD": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert list(tmp_path.rglob("model.ckpt"))


def test_shipped_configs_are_the_recipe_table() -> None:
    """The YAML files inside the package are what `anomalib-kd config NAME` renders from the recipe table."""
    from anomalib_kd_plugins.components.backbone import backbone_normalization
    from anomalib_kd_plugins.recipes import by_name, config_dir, config_names, render_config

    shipped = sorted(p.stem for p in config_dir().glob("*.yaml"))
    assert shipped == sorted(config_names()) == ["adps", "adps_cpu", "adps_ksdd2", "dmdd", "dmdd_b", "dmdd_cpu"]
    for name in shipped:
        text = (config_dir() / f"{name}.yaml").read_text()
        assert text == render_config(name), f"{name}.yaml is stale: anomalib-kd config --write-all {config_dir()}"
        config, spec = yaml.safe_load(text), by_name(name)
        model = config["model"]
        assert model["class_path"] == f"anomalib_kd_plugins.{spec.model}"
        args = spec.constructor_args()
        assert {k: model["init_args"][k] for k in args} == args
        assert {k: config["trainer"][k] for k in spec.trainer} == spec.trainer
        assert config["data"]["init_args"]["train_batch_size"] == spec.train_batch_size
        resize, normalize = model["init_args"]["pre_processor"]["init_args"]["transform"]["init_args"]["transforms"]
        assert resize["init_args"]["size"] == [spec.image_size] * 2
        per_backbone = spec.normalization == "backbone"
        mean, std = backbone_normalization(spec.init_args["backbone"] if per_backbone else None)
        assert normalize["init_args"] == {"mean": mean, "std": std}  # the teacher's own statistics (lite0: 0.5/0.5)


def test_config_command_prints_and_writes_a_recipe(tmp_path: Path) -> None:
    from anomalib_kd_plugins.recipes import render_config

    printed = run_offline([str(BIN / "anomalib-kd"), "config", "dmdd_cpu"], tmp_path)
    assert printed.returncode == 0 and printed.stdout == render_config("dmdd_cpu"), printed.stderr[-2000:]
    written = run_offline([str(BIN / "anomalib-kd"), "config", "adps", "--out", str(tmp_path / "a.yaml")], tmp_path)
    assert written.returncode == 0 and (tmp_path / "a.yaml").read_text() == render_config("adps")
    unknown = run_offline([str(BIN / "anomalib-kd"), "config", "padim"], tmp_path)
    assert unknown.returncode == 2 and "choose from" in unknown.stderr


def test_commands_that_do_not_train_leave_lightning_and_anomalib_unimported(tmp_path: Path) -> None:
    """`anomalib-kd config` starts in about a second, not the 7 s of importing Lightning and anomalib: listing the
    configs imports none of the three, and rendering one reads timm's pretrained config (torch) but not anomalib."""
    heavy = "('torch', 'lightning', 'lightning.pytorch', 'anomalib', 'anomalib.models')"
    for argv, allowed in ((["config", "--list"], []), (["config", "dmdd_cpu"], ["torch"])):
        code = (
            "import contextlib, io, sys; from anomalib_kd_plugins.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()): rc = main({argv!r})\n"
            f"print(rc, [m for m in {heavy} if m in sys.modules])"
        )
        proc = run_offline([sys.executable, "-c", code], tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() == f"0 {allowed}", (argv, proc.stdout)


def test_stock_cli_parses_every_config(tmp_path: Path) -> None:
    """What `anomalib train --config F --print_config` runs, for every shipped config, in one interpreter."""
    from anomalib_kd_plugins.recipes import by_name, config_dir, config_names

    names = config_names()
    code = f"""
import contextlib, io, sys
from anomalib.cli.cli import AnomalibCLI  # the stock `anomalib` console script's class
for name in {names!r}:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            AnomalibCLI(args=["train", "--config", f"{config_dir()}/{{name}}.yaml", "--print_config"])
        except SystemExit as exc:
            assert exc.code in (None, 0), (name, exc.code)
    print(f"=== {{name}}")
    print(out.getvalue())
"""
    proc = run_offline([sys.executable, "-c", code], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    printed = dict(chunk.split("\n", 1) for chunk in proc.stdout.split("=== ")[1:])
    assert sorted(printed) == sorted(names)
    for name, text in printed.items():
        config, spec = yaml.safe_load(text), by_name(name)
        assert config["model"]["class_path"] == f"anomalib_kd_plugins.{spec.model}", name
        assert config["model"]["init_args"]["backbone"] == spec.init_args["backbone"], name


def test_benchmark_pipeline_resolves_adps(tiny_root: Path, tmp_path: Path) -> None:
    """`anomalib benchmark` builds its models with get_model(dict); class_path: Adps must resolve there."""
    config = {
        "accelerator": "cpu",
        "benchmark": {
            "seed": 42,
            "model": {"class_path": "Adps", "init_args": {"backbone": "resnet18", "pre_trained": False, "k": 2}},
            "data": {
                "class_path": "MVTecAD",
                "init_args": {"root": str(tiny_root), "category": "brick", "num_workers": 0},
            },
        },
    }
    code = (
        "import yaml, sys\n"
        "from anomalib.pipelines.benchmark.generator import BenchmarkJobGenerator\n"
        "cfg = yaml.safe_load(open(sys.argv[1]))\n"
        "jobs = list(BenchmarkJobGenerator('cpu').generate_jobs(cfg['benchmark'], None))\n"
        "print([type(j.model).__module__ + '.' + type(j.model).__name__ for j in jobs])\n"
    )
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(config))
    proc = run_offline([sys.executable, "-c", code, str(tmp_path / "bench.yaml")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "anomalib_kd_plugins.models.adps.lightning_model.Adps" in proc.stdout
    assert shutil.which("anomalib", path=str(BIN))


def test_list_models_names_the_plugins_once_the_hook_ran(tmp_path: Path) -> None:
    code = "from anomalib.models import list_models; names = sorted(list_models()); print(names)"
    proc = run_offline([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = eval(proc.stdout.strip().splitlines()[-1])  # a printed list of str
    assert names.count("adps") == 1 and names.count("dmdd") == 1 and "patchcore" in names
