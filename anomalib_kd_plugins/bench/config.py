"""The bench's one typed entry point: a :class:`BenchConfig` says what to run, ``bench.run(config)`` runs it.

``anomalib-kd bench`` parses its command line into a ``BenchConfig``; ``benchmarks/`` scripts build one directly.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from anomalib_kd_plugins.components.options import check_choice
from anomalib_kd_plugins.deploy import OPENVINO_PRECISIONS, OpenvinoPrecision
from anomalib_kd_plugins.recipes import Recipe

from .suites import DEFAULT_MODELS, SUITES, SuiteName, model_spec, recipe

RecipeKind = Literal["cpu", "paper"]
RECIPE_KINDS = get_args(RecipeKind)
Backend = Literal["torch", "openvino", "openvino-int8"]
BACKENDS = get_args(Backend)
FOLDER_KEYS = ("normal_dir", "abnormal_dir", "mask_dir", "normal_test_dir")  # anomalib.data.Folder's arguments


@dataclass(frozen=True)
class BenchConfig:
    """One bench run: which models, on which data, under which recipes, measured how.

    Args:
        models: model class names (any anomalib image model; ``NAME@SIZE`` for another image size, e.g.
            ``Patchcore@256``), one worker process each, in this order.
        suite: ``demo`` (the built real-photo categories), ``mvtec`` (an MVTec AD root) or ``folder``.
        root: the dataset root; for ``demo`` where the data is (built there when missing; default ``out/data``).
        categories: default: every category of the suite.
        recipe: ``cpu`` or ``paper``; default ``paper`` for ``mvtec``, ``cpu`` otherwise.
        paper_backbones: the WRN50 teachers of the paper recipes (needs their weights).
        image_size: every recipe's image size, when given.
        epochs: every trained model's epochs, when given (PatchCore stays one pass).
        settings: per model, recipe settings on top (``{"Adps": {"k": 1}}``; ``Recipe.with_setting`` keys).
        backends: ``torch``; ``openvino`` times the FP32 IR; ``openvino-int8`` also quantises and scores both graphs.
        ov_precision: OpenVINO's inference precision hint (``default``: the CPU plugin's own).
        repeats: timed repeats at batch 1 (a quarter of them at batch 8).
        seeds: ``seed_everything(seed)`` before each fit; several give mean ± std.
        baseline: the model the report's ratios are against.
        out: the output folder.
        num_workers: dataloader workers.
        quiet: no progress bars.
        report_only: train nothing; rewrite the report from the result files in ``out``.
        folder: ``anomalib.data.Folder`` arguments for the ``folder`` suite (``normal_dir`` ...).

    Example:
        >>> from anomalib_kd_plugins.bench import BenchConfig
        >>> config = BenchConfig(models=("Adps", "Patchcore"), seeds=(0, 1), settings={"Adps": {"k": 1}})
        >>> config.model_recipes()["Adps"].init_args["k"]
        1
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    suite: SuiteName = "demo"
    root: str | None = None
    categories: tuple[str, ...] | None = None
    recipe: RecipeKind | None = None
    paper_backbones: bool = False
    image_size: int | None = None
    epochs: int | None = None
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    backends: tuple[Backend, ...] = ("torch",)
    ov_precision: OpenvinoPrecision = "default"
    repeats: int = 20
    seeds: tuple[int, ...] = (0,)
    baseline: str = "Patchcore"
    out: str = "bench_output"
    num_workers: int = 0
    quiet: bool = False
    report_only: bool = False
    folder: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("suite", self.suite, SUITES)
        if self.recipe is not None:
            check_choice("recipe", self.recipe, RECIPE_KINDS)
        for backend in self.backends:
            check_choice("backend", backend, BACKENDS)
        check_choice("ov_precision", self.ov_precision, OPENVINO_PRECISIONS)
        for model in self.models:
            model_spec(model)  # the syntax; the model itself is resolved with its recipe, before anything trains
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models {list(self.models)}: each model once (NAME@SIZE tells sizes apart)")
        for key in self.folder:
            check_choice("folder argument", key, FOLDER_KEYS)
        stray = sorted(set(self.settings) - set(self.models))
        if stray:
            raise ValueError(f"settings for {stray}, which are not among the models of this run {list(self.models)}")
        for name in ("models", "seeds", "backends", "categories"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(value))
        settings = {m: MappingProxyType(dict(s)) for m, s in self.settings.items()}
        object.__setattr__(self, "settings", MappingProxyType(settings))
        object.__setattr__(self, "folder", MappingProxyType(dict(self.folder)))

    @property
    def kind(self) -> RecipeKind:
        """The recipe kind this run uses."""
        return self.recipe or ("paper" if self.suite == "mvtec" else "cpu")

    def model_recipes(self) -> dict[str, Recipe]:
        """Each model's recipe for this run: the table's, with the run's overrides and ``settings`` applied."""
        recipes = {}
        for model in self.models:
            paper = self.paper_backbones or self.kind == "paper"
            spec = recipe(model, self.kind, paper, self.image_size, self.epochs, out=Path(self.out).resolve())
            for key, value in self.settings.get(model, {}).items():
                spec = spec.with_setting(key, value)
            recipes[model] = spec
        return recipes

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> BenchConfig:
        """The config of ``anomalib-kd bench``'s parsed command line (``--set`` strings parsed here, once)."""
        settings: dict[str, dict[str, Any]] = {}
        for setting in args.set:
            model, key, value = parse_setting(setting)
            if model not in args.models:
                raise SystemExit(f"--set {setting!r}: {model} is not among the models of this run {args.models}")
            settings.setdefault(model, {})[key] = value
        folder = {k: getattr(args, k) for k in FOLDER_KEYS if getattr(args, k, None) is not None}
        return cls(
            models=tuple(args.models),
            suite=args.suite,
            root=args.root,
            categories=tuple(args.categories) if args.categories else None,
            recipe=args.recipe,
            paper_backbones=args.paper_backbones,
            image_size=args.image_size,
            epochs=args.epochs,
            settings=settings,
            backends=tuple(args.backends),
            ov_precision=args.ov_precision,
            repeats=args.repeats,
            seeds=tuple(args.seeds),
            baseline=args.baseline,
            out=args.out,
            num_workers=args.num_workers,
            quiet=args.quiet,
            report_only=args.report_only,
            folder=folder,
        )


def parse_setting(setting: str) -> tuple[str, str, Any]:
    """``MODEL.KEY=VALUE`` → (model, key, value); VALUE is read as JSON when it parses, else kept as a string."""
    try:
        target, raw = setting.split("=", 1)
        model, key = target.split(".", 1)
    except ValueError:
        raise SystemExit(f"--set {setting!r}: expected MODEL.KEY=VALUE, e.g. Adps.anomaly_source=self") from None
    try:
        return model, key, json.loads(raw)
    except json.JSONDecodeError:
        return model, key, raw
