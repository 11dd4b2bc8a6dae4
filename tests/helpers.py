"""Helpers the test modules share (no test module imports another): tiny models, data, engines, subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

from anomalib_kd_plugins.recipes import PLUGIN_MODELS, recipe

# the recipe table's `tiny` recipes: unpretrained resnet18 at 64², seconds per fit
TINY: dict[str, dict[str, Any]] = {m: recipe(m, "tiny").constructor_args() for m in PLUGIN_MODELS}
TINY_SIZE = recipe("Adps", "tiny").image_size


def cli_flags(init_args: dict[str, Any]) -> list[str]:
    """``--model.KEY VALUE`` flags for the anomalib CLI (lists in YAML flow style, booleans lower case)."""
    flags = []
    for key, value in init_args.items():
        if isinstance(value, list):
            text = "[" + ",".join(map(str, value)) + "]"
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        flags += [f"--model.{key}", text]
    return flags


# the tiny model's flags on the command line, per model
TINY_FLAGS = {m: cli_flags(TINY[m]) for m in PLUGIN_MODELS}


def tiny_model(name: str, **overrides: Any) -> Any:
    """A small, unpretrained model at 64×64."""
    import anomalib_kd_plugins

    cls = getattr(anomalib_kd_plugins, name)
    size = (TINY_SIZE, TINY_SIZE)
    return cls(**{**TINY[name], **overrides}, pre_processor=cls.configure_pre_processor(image_size=size))


def copy_category(tiny_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny brick category (tests that damage files work on it)."""
    root = tmp_path / "data"
    shutil.copytree(tiny_root / "brick", root / "brick")
    return root


def tiny_datamodule(root: Path, **kwargs: Any) -> Any:
    """The tiny brick category with a fixed split."""
    from anomalib.data import MVTecAD

    args = {"train_batch_size": 4, "eval_batch_size": 4, "num_workers": 0, "seed": 0, **kwargs}
    return MVTecAD(root=root, category="brick", **args)


def tiny_engine(tmp_path: Path, **kwargs: Any) -> Any:
    """A one-epoch CPU Engine without logger or progress bar."""
    from anomalib.engine import Engine

    args = {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": False, "enable_progress_bar": False}
    return Engine(default_root_dir=tmp_path / "run", **{**args, **kwargs})


def run_offline(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run a command line in a fresh process, offline, capturing its output."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=timeout)


# Stock ``anomalib`` command lines through the console script's class, AnomalibCLI, in one interpreter: each parses
# and runs exactly what `anomalib <args>` does, and the start-up (about 10 s) is paid once. A step that raises is
# reported with its traceback and the next one still runs.
CLI_STEPS = """
import json, sys, traceback
from anomalib.cli.cli import AnomalibCLI
for name, args in json.loads(sys.argv[1]):
    try:
        AnomalibCLI(args=args)
    except (Exception, SystemExit):
        print(f"[{name}] FAILED", " ".join(traceback.format_exc().split()), flush=True)
    else:
        print(f"[{name}] OK", flush=True)
"""


def run_cli_steps(runs: list[tuple[str, list[str]]], cwd: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Run (name, stock CLI arguments without the executable) pairs in one fresh, offline interpreter; return the
    process and each step's line, ``"[name] OK"`` or ``"[name] FAILED <traceback>"``."""
    import json
    import sys

    proc = run_offline([sys.executable, "-c", CLI_STEPS, json.dumps(runs)], cwd)
    lines = {line.split("]")[0][1:]: line for line in proc.stdout.splitlines() if line.startswith("[")}
    return proc, lines


def data_args(root: Path, category: str = "brick") -> list[str]:
    """The stock CLI's ``--data`` flags for an MVTec-layout category (no workers, batch 4)."""
    flags = {"root": str(root), "category": category, "num_workers": "0", "train_batch_size": "4"}
    return [
        "--data",
        "anomalib.data.MVTecAD",
        *[x for k, v in {**flags, "eval_batch_size": "4"}.items() for x in (f"--data.{k}", v)],
    ]


def anomalib_command(command: str, model: str, *args: str) -> list[str]:
    """A stock ``anomalib`` command line for a tiny, unpretrained model."""
    import sys

    return [str(Path(sys.executable).parent / "anomalib"), command, "--model", model, *TINY_FLAGS[model], *args]


def train_cpu_recipe(model: str, root: Path, category: str, workdir: Path) -> tuple[dict[str, float], Any]:
    """Fit a CPU recipe with a fixed seed, exactly as the demo does; return the test metrics and the engine."""
    from lightning.pytorch import seed_everything

    from anomalib_kd_plugins.recipes import recipe
    from anomalib_kd_plugins.training import fit_and_test, mvtec_datamodule

    spec = recipe(model, "cpu")
    seed_everything(0, workers=True)
    metrics, engine, _ = fit_and_test(
        spec,
        mvtec_datamodule(root, category, spec.train_batch_size),
        workdir,
        model_overrides={"visualizer": False},
        trainer_overrides={"enable_progress_bar": False},
    )
    return metrics, engine


def benchmark_module(name: str) -> ModuleType:
    """A script of ``benchmarks/`` (not a package) imported as a module, for its functions."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
