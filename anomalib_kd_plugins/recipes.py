"""The recipe table: every model's settings, as typed data, in one place (docs/recipes.md).

``RECIPES[model][kind]`` is a frozen :class:`Recipe`: a model's constructor arguments, image size, normalisation,
training budget and batch size for one recipe: ``paper`` (the paper's settings, [F] values plus our [A] defaults;
docs/adps.md §1.8, docs/dmdd.md §2.2), ``paper_b`` (DMDD on the WRN50 teacher), ``paper_ksdd2`` and ``cpu``
(minutes on a 2-core CPU, not the paper: each difference is explained in its ``why``). The demo, the bench,
``benchmarks/``, the tests and the shipped configs (``anomalib-kd config NAME``) all read this table; ``tiny``
recipes serve the tests. A change is ``recipe.replace(...)``, ``recipe.with_args(...)`` or ``recipe.with_setting(...)``
(what ``anomalib-kd bench --set`` does), each a new recipe.

CPU recipes use the ImageNet tf_efficientnet_lite0 teacher (the one whose weights ship offline) at 128×128. Each
choice was measured on the four demo categories; the records are in docs/experiments/ (one file per round) and
each recipe's ``why`` names the decision.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from anomalib_kd_plugins.registry import plugin_models

if TYPE_CHECKING:
    from anomalib_kd_plugins.components.backbone import Normalization

LITE0 = "tf_efficientnet_lite0"
LITE0_LAYERS = ("blocks.1", "blocks.2", "blocks.4")  # strides 4/8/16, like WRN50 layer1-3
WRN50 = "wide_resnet50_2"
RESNET_LAYERS = ("layer1", "layer2", "layer3")
PLUGIN_MODELS = plugin_models()  # from the package's entry points
CONFIG_KINDS = ("paper", "paper_b", "paper_ksdd2", "cpu")  # the recipes shipped as anomalib CLI configs
KIND_SUFFIX = {"paper": "", "paper_b": "_b", "paper_ksdd2": "_ksdd2", "cpu": "_cpu", "tiny": "_tiny"}
RECIPE_FIELDS = ("normalization", "image_size", "train_batch_size")  # --set keys that set the recipe itself
BUDGET_KEYS = ("max_epochs", "max_steps")  # --set keys that set the training budget


def _plain(value: Any) -> Any:
    """A JSON/YAML-able deep copy: mappings → dict, tuples → list."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _frozen(value: Any) -> Any:
    """A read-only deep copy: mappings → MappingProxyType, lists → tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class Budget:
    """How long a recipe trains: ``epochs`` or optimiser ``steps``, exactly one of them.

    Example:
        >>> Budget(epochs=40).trainer_args()
        {'max_epochs': 40}
        >>> Budget(steps=5000).trainer_args()
        {'max_steps': 5000, 'max_epochs': -1}
    """

    epochs: int | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(f"A budget is epochs or steps, exactly one; got epochs={self.epochs}, steps={self.steps}")
        if (self.epochs or self.steps or 0) <= 0:
            raise ValueError(f"A budget must be positive; got epochs={self.epochs}, steps={self.steps}")

    def trainer_args(self) -> dict[str, int]:
        """The Lightning Trainer arguments of this budget."""
        return {"max_epochs": self.epochs} if self.epochs else {"max_steps": self.steps, "max_epochs": -1}

    @classmethod
    def from_trainer_args(cls, trainer: Mapping[str, Any]) -> Budget:
        """The budget of Trainer arguments (``max_epochs`` > 0 wins, as in Lightning)."""
        if trainer.get("max_epochs", -1) not in (None, -1):
            return cls(epochs=int(trainer["max_epochs"]))
        return cls(steps=int(trainer["max_steps"]))


def validation_args(trainer: Mapping[str, Any]) -> dict[str, Any]:
    """When to validate, for configs, the demo and the bench alike: once, after the last epoch or the last step.

    Validation sets anomalib's thresholds and normalisation statistics, and the models fit their map statistics
    after training, so one pass at the end is all a fit needs.
    """
    budget = Budget.from_trainer_args(trainer)
    if budget.epochs:
        return {"check_val_every_n_epoch": budget.epochs}
    return {"check_val_every_n_epoch": None, "val_check_interval": budget.steps}


@dataclass(frozen=True)
class Recipe:
    """One model's settings for one recipe kind: constructor arguments, input, budget and batch size.

    Args:
        model: the model's class name (``Adps``, ``Dmdd`` or an anomalib model such as ``Patchcore``).
        kind: ``paper``, ``paper_b``, ``paper_ksdd2``, ``cpu`` or ``tiny``.
        why: where the settings come from; measured choices link their record in docs/experiments/.
        init_args: the model's constructor arguments (read-only; ``with_args`` makes a changed copy).
        budget: epochs or steps.
        image_size: the side the pre-processor resizes to.
        train_batch_size: the training batch size.
        normalization: ``backbone`` (the teacher's own statistics) or ``imagenet``.
        data: an anomalib datamodule (``class_path``/``init_args``) for the rendered config; default MVTecAD.

    Example:
        >>> from anomalib_kd_plugins.recipes import recipe
        >>> cpu = recipe("Adps", "cpu")
        >>> short = cpu.with_setting("max_epochs", 20).with_args(k=4)
        >>> short.budget.epochs, short.init_args["k"], cpu.init_args["k"]
        (20, 4, 1)
    """

    model: str
    kind: str
    why: str
    init_args: Mapping[str, Any]
    budget: Budget
    image_size: int
    train_batch_size: int
    normalization: Normalization = "backbone"
    data: Mapping[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:  # the normalisation is checked where the pre-processor is made
        object.__setattr__(self, "init_args", _frozen(self.init_args))
        object.__setattr__(self, "data", None if self.data is None else _frozen(self.data))

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def with_args(self, **init_args: Any) -> Recipe:
        """A copy with some constructor arguments changed or added."""
        return self.replace(init_args={**self.init_args, **init_args})

    def with_setting(self, key: str, value: Any) -> Recipe:
        """A copy with one setting changed, the way ``--set MODEL.KEY=VALUE`` does: ``normalization``,
        ``image_size`` and ``train_batch_size`` set the recipe, ``max_epochs``/``max_steps`` its budget, any other
        key a constructor argument."""
        if key in RECIPE_FIELDS:
            return self.replace(**{key: value})
        if key in BUDGET_KEYS:
            return self.replace(budget=Budget(**{"epochs" if key == "max_epochs" else "steps": value}))
        return self.with_args(**{key: value})

    @property
    def trainer(self) -> dict[str, int]:
        """The Trainer arguments of the budget."""
        return self.budget.trainer_args()

    @property
    def name(self) -> str:
        """The config name: ``adps``, ``adps_cpu``, ``dmdd_b`` ..."""
        return recipe_name(self.model, self.kind)

    def constructor_args(self) -> dict[str, Any]:
        """A plain, mutable copy of the constructor arguments (lists, not tuples), for a model or a config."""
        return _plain(self.init_args)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (the bench's worker spec carries it)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)} | {
            "budget": dataclasses.asdict(self.budget)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """The recipe of ``to_dict``'s output."""
        return cls(**{**data, "budget": Budget(**data["budget"])})


def _recipe(
    model: str,
    kind: str,
    why: str,
    init_args: Mapping[str, Any],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    image_size: int = 128,
    train_batch_size: int = 4,
    **fields: Any,
) -> Recipe:
    """One row of the table (the defaults are the CPU recipes' 128² at batch 4)."""
    budget = Budget(epochs=epochs, steps=steps)
    return Recipe(model, kind, why, init_args, budget, image_size, train_batch_size, **fields)


def _table() -> dict[str, dict[str, Recipe]]:
    tiny = {"image_size": 64, "epochs": 1, "train_batch_size": 4}
    tiny_args = {"backbone": "resnet18", "layers": RESNET_LAYERS, "pre_trained": False}
    paper_adps = {"backbone": WRN50, "layers": RESNET_LAYERS, "k": 8, "lr": 1e-4}
    dmdd_paper = {
        "why": "reconstruction on DeSTSeg's recipe (docs/dmdd.md §2.2): resnet18 layer1-3, 256², batch 32, 5000 SGD "
        "steps, the first 1000 for the student",
        "init_args": {"backbone": "resnet18", "layers": RESNET_LAYERS, "lr_student": 0.4},
        "steps": 5000,
        "image_size": 256,
        "train_batch_size": 32,
    }
    ksdd2 = {
        "class_path": "anomalib.data.Folder",
        "init_args": {
            "name": "KolektorSDD2",
            "root": "./datasets/KolektorSDD2_folder",
            "normal_dir": "train/good",
            "abnormal_dir": "test/defect",
            "normal_test_dir": "test/good",
            "mask_dir": "ground_truth/defect",
            "val_split_mode": "same_as_test",  # as MVTecAD: the whole official test split is tested
        },
    }
    return {
        "Adps": {
            "paper": _recipe(
                "Adps",
                "paper",
                "ADPS §IV-A2: WRN50-2, 256², k = 8, Adam 1e-4, batch 32, 300 epochs, ×0.2 at 240/270, λ = 1",
                paper_adps,
                epochs=300,
                image_size=256,
                train_batch_size=32,
            ),
            "paper_ksdd2": _recipe(
                "Adps",
                "paper_ksdd2",
                "ADPS §IV-A on KolektorSDD2 (its +20-point AP headline): the paper's MVTec training, on the "
                "defect-free training images, through anomalib's Folder datamodule; the paper gives no input size for "
                "the ~230×630 images ([A] 256², docs/adps.md §1.8). Lay the data out with `anomalib-kd data ksdd2`",
                paper_adps,
                epochs=300,
                image_size=256,
                train_batch_size=32,
                data=ksdd2,
            ),
            "cpu": _recipe(
                "Adps",
                "cpu",
                "lite0 teacher, 128² with k = 1, the symmetric student: at this size and budget the asymmetric "
                "k = 2 (the best k before) lost to it on every seed, the paper's Fig. 6 reversed "
                "(docs/experiments/2026-12-02-round7.md, docs/experiments/2026-12-04-round11.md); "
                "ImageNet normalisation, Adam 1e-3 (docs/experiments/2026-11-rounds-1-4.md); a 60-epoch "
                "distillation-only warm-up, then 20 epochs of the paper's training with its ×0.2 decay at 80 %/90 % "
                "(the PSM's map on held-out synthetic anomalies still rose after 10; "
                "docs/experiments/2026-12-06-round18.md), "
                "and the map fused with the KD map (map_fusion='seg+kd'): after 10 epochs the student had not "
                "learned the normal images (docs/experiments/2026-12-01-round5.md); the warm-up at Adam 6e-3 "
                "(student_warmup_lr: a larger lr than the joint training's halves the student's distance on its "
                "training images within it, docs/experiments/2026-12-03-round10.md, and 60 epochs rather than 30 "
                "bring the textures' students closer still, docs/experiments/2026-12-05-round15.md) with the paper's "
                "×0.2 decay at 80 %/90 % of the warm-up (student_lr_schedule='multistep'), so that the student's "
                "distance settles on a plateau before the PSM joins, at the constant lr it was still falling "
                "(docs/experiments/2026-12-06-round17.md, docs/experiments/2026-12-06-round19.md); the KD map read "
                "from 3×3-averaged "
                "features (kd_pool=3): "
                "the student errs position by position on normal images it has not seen, and the average cancels "
                "that more than a defect's (docs/experiments/2026-12-05-round13.md), each edge position scaled by the "
                "share of its neighbourhood inside the map (kd_pool_border='scaled'), and every training image "
                "seen in a random flip and quarter turn (train_augment='dihedral'): the student's distance on unseen "
                "normal images comes closer to its training one (docs/experiments/2026-12-04-round12.md, "
                "docs/experiments/2026-12-05-round14.md); each map of the sum divided by its typical maximum on clean "
                "training images (map_fusion_scale='peak'), so that the head's near-constant output there does not "
                "outweigh the KD map (docs/experiments/2026-12-05-round15.md); the image score the max of that sum "
                "before the Gaussian (score_map='raw'): the PSM's sharp peak on a small defect ranks the images "
                "better than its smoothed one (docs/experiments/2026-12-06-round20.md); the map's Gaussian at σ = 2, "
                "the paper's assumed σ = 4 of 256² at this size: σ = 4 blurred the PSM's sharp map and cost pixel AP "
                "(docs/experiments/2026-12-06-round20.md); the KD map averaged with that of the test image's mirror "
                "(kd_views='flip'): the student's errors on unseen normal images move with the view and a defect "
                "does not, and the mirror alone gave nearly all of the eight views' pixel AP on every seed for one "
                "more teacher and student pass per image (docs/experiments/2026-12-07-round26.md)",
                {
                    "backbone": LITE0,
                    "layers": LITE0_LAYERS,
                    "k": 1,
                    "lr": 1e-3,
                    "student_warmup_epochs": 60,
                    "student_warmup_lr": 6e-3,
                    "student_lr_schedule": "multistep",
                    "map_fusion": "seg+kd",
                    "kd_pool": 3,
                    "kd_pool_border": "scaled",
                    "train_augment": "dihedral",
                    "map_fusion_scale": "peak",
                    "score_map": "raw",
                    "sigma": 2.0,
                    "kd_views": "flip",
                },
                epochs=80,
                normalization="imagenet",
            ),
            "tiny": _recipe(
                "Adps",
                "tiny",
                "tests and smoke runs only: unpretrained resnet18 at 64², k = 2, one epoch (seconds per fit)",
                {**tiny_args, "k": 2},
                **tiny,
            ),
        },
        "Dmdd": {
            "paper": _recipe("Dmdd", "paper", **dmdd_paper),
            "paper_b": _recipe(
                "Dmdd",
                "paper_b",
                **{
                    **dmdd_paper,
                    "why": "the reconstruction on a WRN50-2 teacher (the authors' later code uses it), otherwise as "
                    "paper",
                    "init_args": {**dmdd_paper["init_args"], "backbone": WRN50},
                },
            ),
            "cpu": _recipe(
                "Dmdd",
                "cpu",
                "lite0 teacher with its own 0.5/0.5 normalisation, 128², a 128-channel segmentation head, 16 epochs "
                "of the two-phase schedule after a 20-epoch student warm-up (36 epochs in all), the student phase "
                "10 % of them (student_phase_fraction=0.1): the head's map on held-out synthetic anomalies was still "
                "rising steeply when 8 epochs ended, and the student's steps stay those of 8 epochs at 20 % "
                "(docs/experiments/2026-12-06-round18.md); DeSTSeg's batch-sum "
                "KD loss and 4-branch ASPP, the map smoothed (docs/experiments/2026-11-rounds-1-4.md) with σ = 2, "
                "the σ = 4 of 256² at this size: on the fused map σ = 4 blurred the head's sharp map and cost pixel "
                "AP (docs/experiments/2026-12-06-round20.md); "
                "contrast-matched synthetic anomalies (anomaly_source='matched') and the map fused with the "
                "normality branch's KD map (map_fusion='seg+kd'), measured together "
                "(docs/experiments/2026-12-01-round5.md); that KD map read from 3×3-averaged features (kd_pool=3; "
                "docs/experiments/2026-12-05-round13.md), each edge position scaled by the share of its "
                "neighbourhood inside the map (kd_pool_border='scaled'; docs/experiments/2026-12-05-round14.md); "
                "the student's decoder with skip connections (student_skips, not DeSTSeg's: its decoder rebuilds every "
                "level from a 4×4 map at 128², which held the student far from the teacher; "
                "docs/experiments/2026-12-04-round12.md) and its lr annealed to 0 over its steps "
                "(student_lr_schedule='cosine'), so it settles before it is frozen, and each map of the sum divided by "
                "its typical maximum on clean training images (map_fusion_scale='peak'), so that the head's "
                "near-constant output there does not outweigh the KD map (docs/experiments/2026-12-05-round15.md), "
                "that maximum measured on flipped and half-turned training images (map_fusion_calibration='flips'): "
                "the head has learned its training images far more than the KD map has, so statistics from the images "
                "as trained on weighed the head up on unseen ones (docs/experiments/2026-12-06-round21.md); "
                "the KD map averaged over the eight symmetric views of the test image (kd_views='dihedral'): the "
                "student's errors on unseen normal images move with the view and a defect does not, so the mean "
                "raised the fused map's pixel AP and image AUROC on every seed, at the cost of seven more teacher "
                "and student passes per image (docs/experiments/2026-12-07-round26.md)",
                {
                    "backbone": LITE0,
                    "layers": LITE0_LAYERS,
                    "seg_channels": 128,
                    "kd_reduction": "batch_sum",
                    "aspp": "destseg",
                    "sigma": 2.0,
                    "student_warmup_epochs": 20,
                    "anomaly_source": "matched",
                    "map_fusion": "seg+kd",
                    "kd_pool": 3,
                    "kd_pool_border": "scaled",
                    "student_skips": True,
                    "student_lr_schedule": "cosine",
                    "map_fusion_scale": "peak",
                    "map_fusion_calibration": "flips",
                    "student_phase_fraction": 0.1,
                    "kd_views": "dihedral",
                },
                epochs=36,
            ),
            "tiny": _recipe(
                "Dmdd",
                "tiny",
                "tests and smoke runs only: unpretrained resnet18 at 64², a 32-channel head, one epoch",
                {**tiny_args, "seg_channels": 32},
                **tiny,
            ),
        },
        "Patchcore": {
            "paper": _recipe(
                "Patchcore",
                "paper",
                "PatchCore (Roth et al. 2022): WRN50 layer2+3, 10 % coreset, one pass over the training set",
                {"backbone": WRN50, "layers": ("layer2", "layer3"), "coreset_sampling_ratio": 0.1},
                epochs=1,
                image_size=256,
                train_batch_size=32,
            ),
            "cpu": _recipe(
                "Patchcore",
                "cpu",
                "the same offline lite0 teacher as the plugins (blocks.2/4 ↔ WRN50 layer2/3, strides 8/16), 128²",
                {"backbone": LITE0, "layers": ("blocks.2", "blocks.4")},
                epochs=1,
            ),
        },
        "Padim": {
            "paper": _recipe(
                "Padim",
                "paper",
                "PaDiM (Defard et al. 2021): WRN50-2 layer1-3 with 550 randomly selected feature dimensions, one pass",
                {"backbone": WRN50, "layers": RESNET_LAYERS, "n_features": 550},
                epochs=1,
                image_size=256,
                train_batch_size=32,
            ),
            "cpu": _recipe(
                "Padim",
                "cpu",
                "the offline lite0 teacher at strides 4/8/16 (blocks.1/2/4, 176 channels), 128², one pass; PaDiM needs "
                "n_features for a backbone it has no default for: 100, its resnet18 setting",
                {"backbone": LITE0, "layers": LITE0_LAYERS, "n_features": 100},
                epochs=1,
            ),
        },
        "ReverseDistillation": {
            "paper": _recipe(
                "ReverseDistillation",
                "paper",
                "RD4AD (Deng & Li 2022): WRN50 layer1-3, 200 epochs (anomalib's Adam 5e-3, as in the paper)",
                {"backbone": WRN50, "layers": RESNET_LAYERS},
                epochs=200,
                image_size=256,
                train_batch_size=16,
            ),
            "cpu": _recipe(
                "ReverseDistillation",
                "cpu",
                "resnet18 (RD4AD's decoder exists only for ResNets), 128², 10 epochs",
                {"backbone": "resnet18", "layers": RESNET_LAYERS},
                epochs=10,
            ),
        },
    }


RECIPES: dict[str, dict[str, Recipe]] = _table()


def recipe(model: str, kind: str = "cpu") -> Recipe:
    """One recipe of the table (frozen: change it with ``replace``, ``with_args`` or ``with_setting``)."""
    if model not in RECIPES:
        raise ValueError(f"Unknown model {model!r}; the recipe table has {', '.join(RECIPES)}")
    if kind not in RECIPES[model]:
        raise ValueError(f"{model} has no {kind!r} recipe; it has {', '.join(RECIPES[model])}")
    return RECIPES[model][kind]


def recipe_name(model: str, kind: str) -> str:
    """The config name of a recipe: ``adps``, ``adps_cpu``, ``dmdd_b`` ..."""
    return (
        re.sub(r"(?<!^)(?=[A-Z])", "_", model).lower() + KIND_SUFFIX[kind]
    )  # ReverseDistillation → reverse_distillation


def names() -> dict[str, tuple[str, str]]:
    """Every recipe's config name → (model, kind)."""
    return {recipe_name(m, k): (m, k) for m, kinds in RECIPES.items() for k in kinds}


def by_name(name: str) -> Recipe:
    """A recipe by its config name (``adps_cpu``)."""
    table = names()
    if name not in table:
        raise ValueError(f"Unknown recipe {name!r}; choose from {', '.join(sorted(table))}")
    return recipe(*table[name])


def paper_backbone(model: str) -> dict[str, Any]:
    """The backbone and layers of a model's WRN50 recipe (``paper_b`` where it exists), for ``--paper-backbones``."""
    kinds = RECIPES[model]
    args = kinds.get("paper_b", kinds["paper"]).init_args
    return {"backbone": args["backbone"], "layers": list(args["layers"])}


def model_class(name: str) -> type:
    """A plugin model (``Adps``, ``Dmdd``) or any anomalib model by class name."""
    import anomalib.models

    import anomalib_kd_plugins

    if name in PLUGIN_MODELS:
        return getattr(anomalib_kd_plugins, name)
    try:
        return getattr(anomalib.models, name)
    except AttributeError:
        msg = f"Unknown model {name!r}: use Adps, Dmdd or an anomalib model class name such as Patchcore"
        raise ValueError(msg) from None


def model_kwargs(spec: Recipe) -> dict[str, Any]:
    """Constructor arguments of a recipe, with its pre-processor at the recipe's image size.

    Every model of a comparison with a backbone (PatchCore and RD4AD too) gets the same pre-processor: Resize and the
    teacher's own normalisation (timm's pretrained mean/std) unless the recipe says ``"imagenet"``. A model without
    one keeps its own pre-processing at the recipe's size, as ``anomalib train`` gives it (DRAEM refuses a
    Normalize: it reconstructs the image itself).
    """
    from anomalib_kd_plugins.components.backbone import backbone_pre_processor

    size = spec.image_size
    backbone = spec.init_args.get("backbone")
    if backbone is None:
        pre = model_class(spec.model).configure_pre_processor((size, size))
    else:
        pre = backbone_pre_processor((size, size), backbone, spec.normalization)
    return {**spec.constructor_args(), "pre_processor": pre}


def build_model(spec: Recipe, **overrides: Any) -> Any:
    """Instantiate a recipe's model; the shared evaluator gives every model the same metrics (AP and PRO too)."""
    from anomalib_kd_plugins.components.evaluator import PaperEvaluator

    cls = model_class(spec.model)
    return cls(**{"evaluator": PaperEvaluator(), **model_kwargs(spec), **overrides})


def config_dir() -> Any:
    """The folder of the shipped configs (inside the package, so pip users have them too)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "configs"


def render_config(name: str) -> str:
    """The anomalib CLI config of a recipe (``anomalib train --config FILE``), generated from the table."""
    import textwrap

    import yaml

    from anomalib_kd_plugins.components.backbone import backbone_normalization

    spec = by_name(name)
    model, kind, size = spec.model, spec.kind, spec.image_size
    cpu = kind == "cpu"
    trainer: dict[str, Any] = {"accelerator": "cpu" if cpu else "auto", "devices": 1, **spec.trainer}
    trainer.update(validation_args(spec.trainer))
    per_backbone = spec.normalization == "backbone"
    mean, std = backbone_normalization(spec.init_args["backbone"] if per_backbone else None)
    transforms = [
        {"class_path": "torchvision.transforms.v2.Resize", "init_args": {"size": [size, size], "antialias": True}},
        {"class_path": "torchvision.transforms.v2.Normalize", "init_args": {"mean": mean, "std": std}},
    ]
    compose = {"class_path": "torchvision.transforms.v2.Compose", "init_args": {"transforms": transforms}}
    pre = {"class_path": "anomalib.pre_processing.PreProcessor", "init_args": {"transform": compose}}
    class_path = f"anomalib_kd_plugins.{model}" if model in PLUGIN_MODELS else f"anomalib.models.{model}"
    evaluator = {"class_path": "anomalib_kd_plugins.PaperEvaluator"}
    loader = {
        "train_batch_size": spec.train_batch_size,
        "eval_batch_size": 8 if cpu else spec.train_batch_size,
        "num_workers": 0 if cpu else 8,
    }
    mvtec = {"root": "./datasets/realphoto" if cpu else "./datasets/MVTecAD", "category": "brick" if cpu else "bottle"}
    data = _plain(spec.data) if spec.data else {"class_path": "anomalib.data.MVTecAD", "init_args": mvtec}
    data["init_args"].update(loader)
    config = {
        "seed_everything": 42,
        "default_root_dir": "results",
        "trainer": trainer,
        "model": {
            "class_path": class_path,
            "init_args": {**spec.constructor_args(), "evaluator": evaluator, "pre_processor": pre},
        },
        "data": data,
    }
    title = {
        "paper": "the paper's settings",
        "paper_b": "the paper's, WRN50 teacher",
        "paper_ksdd2": "the paper's settings on KolektorSDD2",
        "cpu": "fast CPU recipe",
    }
    usage = {
        "cpu": "anomalib-kd weights seed && anomalib-kd data build ./datasets/realphoto\n"
        f"HF_HUB_OFFLINE=1 anomalib train --config {name}.yaml",
        "paper_ksdd2": "anomalib-kd data ksdd2 /path/to/KolektorSDD2 ./datasets/KolektorSDD2_folder\n"
        f"anomalib train --config {name}.yaml",
    }.get(kind, f"anomalib train --config {name}.yaml --data.root /path/to/MVTecAD --data.category bottle")
    header = [
        f"{model}, {title.get(kind, kind)} (recipe {kind!r}{'' if kind.startswith('paper') else ', NOT the paper'}).",
        *textwrap.wrap(spec.why, 114),
        *usage.splitlines(),
        "Generated from anomalib_kd_plugins/recipes.py: `anomalib-kd config " + name + "` prints it; edit the recipe,",
        "then `anomalib-kd config --write-all anomalib_kd_plugins/configs` (a test checks the two agree).",
    ]
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=None, width=118)
    return "".join(f"# {line}\n" for line in header) + body


def config_names() -> list[str]:
    """The names of the shipped configs: every plugin recipe of ``CONFIG_KINDS``."""
    return [recipe_name(m, k) for m in PLUGIN_MODELS for k in RECIPES[m] if k in CONFIG_KINDS]
