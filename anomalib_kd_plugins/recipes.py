"""The recipe table: every model's settings, as data, in one place (docs/recipes.md).

``RECIPES[model][kind]`` holds a model's constructor arguments, image size, normalisation, trainer arguments and
batch sizes for one recipe: ``paper`` (the paper's settings, [F] values plus our [A] defaults; docs/adps.md §1.8,
docs/dmdd.md §2.2), ``paper_b`` (DMDD on the WRN50 teacher) and ``cpu`` (minutes on a 2-core CPU, not the paper:
each difference is explained in its ``why``). The demo, the bench, ``benchmarks/``, the tests and the shipped
configs (``anomalib-kd config NAME``) all read this table; ``tiny`` recipes serve the tests.

CPU recipes use the ImageNet tf_efficientnet_lite0 teacher (the one whose weights ship offline) at 128×128. Each
choice was measured on the four demo categories; the records are in docs/experiments/ (one file per round) and
each recipe's ``why`` names the decision.
"""

from __future__ import annotations

import copy
from typing import Any

LITE0 = "tf_efficientnet_lite0"
LITE0_LAYERS = ["blocks.1", "blocks.2", "blocks.4"]  # strides 4/8/16, like WRN50 layer1-3
WRN50 = "wide_resnet50_2"
RESNET_LAYERS = ["layer1", "layer2", "layer3"]
PLUGIN_MODELS = ("Adps", "Dmdd")
CONFIG_KINDS = ("paper", "paper_b", "paper_ksdd2", "cpu")  # the recipes shipped as anomalib CLI configs
KIND_SUFFIX = {"paper": "", "paper_b": "_b", "paper_ksdd2": "_ksdd2", "cpu": "_cpu", "tiny": "_tiny"}

CPU_BASE: dict[str, Any] = {"image_size": 128, "train_batch_size": 4}  # what every cpu recipe shares
TINY_BASE: dict[str, Any] = {"image_size": 64, "trainer": {"max_epochs": 1}, "train_batch_size": 4}
TINY_ARGS: dict[str, Any] = {"backbone": "resnet18", "layers": RESNET_LAYERS, "pre_trained": False}

DMDD_PAPER: dict[str, Any] = {
    "why": "reconstruction on DeSTSeg's recipe (docs/dmdd.md §2.2): resnet18 layer1-3, 256², batch 32, 5000 SGD steps, "
    "the first 1000 for the student",
    "init_args": {"backbone": "resnet18", "layers": RESNET_LAYERS, "lr_student": 0.4},
    "image_size": 256,
    "trainer": {"max_steps": 5000, "max_epochs": -1},
    "train_batch_size": 32,
}

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "Adps": {
        "paper": {
            "why": "ADPS §IV-A2: WRN50-2, 256², k = 8, Adam 1e-4, batch 32, 300 epochs, ×0.2 at 240/270, λ = 1",
            "init_args": {"backbone": WRN50, "layers": RESNET_LAYERS, "k": 8, "lr": 1e-4},
            "image_size": 256,
            "trainer": {"max_epochs": 300},
            "train_batch_size": 32,
        },
        "paper_ksdd2": {
            "why": "ADPS §IV-A on KolektorSDD2 (its +20-point AP headline): the paper's MVTec training, on the "
            "defect-free training images, through anomalib's Folder datamodule; the paper gives no input size for "
            "the ~230×630 images ([A] 256², docs/adps.md §1.8). Lay the data out with `anomalib-kd data ksdd2`",
            "init_args": {"backbone": WRN50, "layers": RESNET_LAYERS, "k": 8, "lr": 1e-4},
            "image_size": 256,
            "trainer": {"max_epochs": 300},
            "train_batch_size": 32,
            "data": {
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
            },
        },
        "cpu": {
            **CPU_BASE,
            "why": "lite0 teacher, 128² with k = 2 (64-px student patches, the paper's k = 4 by patch size), "
            "ImageNet normalisation, Adam 1e-3 (docs/experiments/2026-11-rounds-1-4.md); a 30-epoch "
            "distillation-only warm-up, then 10 epochs of the paper's training with its ×0.2 decay at 80 %/90 %, "
            "and the map fused with the KD map (map_fusion='seg+kd'): after 10 epochs the student had not learned "
            "the normal images (docs/experiments/2026-12-01-round5.md)",
            "init_args": {
                "backbone": LITE0,
                "layers": LITE0_LAYERS,
                "k": 2,
                "lr": 1e-3,
                "student_warmup_epochs": 30,
                "map_fusion": "seg+kd",
            },
            "normalization": "imagenet",
            "trainer": {"max_epochs": 40},
        },
        "tiny": {
            **TINY_BASE,
            "why": "tests and smoke runs only: unpretrained resnet18 at 64², k = 2, one epoch (seconds per fit)",
            "init_args": {**TINY_ARGS, "k": 2},
        },
    },
    "Dmdd": {
        "paper": DMDD_PAPER,
        "paper_b": {
            **DMDD_PAPER,
            "why": "the reconstruction on a WRN50-2 teacher (the authors' later code uses it), otherwise as paper",
            "init_args": {**DMDD_PAPER["init_args"], "backbone": WRN50},
        },
        "cpu": {
            **CPU_BASE,
            "why": "lite0 teacher with its own 0.5/0.5 normalisation, 128², a 128-channel segmentation head, 8 epochs "
            "of the two-phase schedule after a 20-epoch student warm-up (28 epochs in all); DeSTSeg's batch-sum KD "
            "loss and 4-branch ASPP, the map smoothed with σ = 4 (docs/experiments/2026-11-rounds-1-4.md); "
            "contrast-matched synthetic anomalies (anomaly_source='matched') and the map fused with the normality "
            "branch's KD map (map_fusion='seg+kd'), measured together (docs/experiments/2026-12-01-round5.md)",
            "init_args": {
                "backbone": LITE0,
                "layers": LITE0_LAYERS,
                "seg_channels": 128,
                "kd_reduction": "batch_sum",
                "aspp": "destseg",
                "sigma": 4.0,
                "student_warmup_epochs": 20,
                "anomaly_source": "matched",
                "map_fusion": "seg+kd",
            },
            "trainer": {"max_epochs": 28},
        },
        "tiny": {
            **TINY_BASE,
            "why": "tests and smoke runs only: unpretrained resnet18 at 64², a 32-channel head, one epoch",
            "init_args": {**TINY_ARGS, "seg_channels": 32},
        },
    },
    "Patchcore": {
        "paper": {
            "why": "PatchCore (Roth et al. 2022): WRN50 layer2+3, 10 % coreset, one pass over the training set",
            "init_args": {"backbone": WRN50, "layers": ["layer2", "layer3"], "coreset_sampling_ratio": 0.1},
            "image_size": 256,
            "trainer": {"max_epochs": 1},
            "train_batch_size": 32,
        },
        "cpu": {
            **CPU_BASE,
            "why": "the same offline lite0 teacher as the plugins (blocks.2/4 ↔ WRN50 layer2/3, strides 8/16), 128²",
            "init_args": {"backbone": LITE0, "layers": ["blocks.2", "blocks.4"]},
            "trainer": {"max_epochs": 1},
        },
    },
    "ReverseDistillation": {
        "paper": {
            "why": "RD4AD (Deng & Li 2022): WRN50 layer1-3, 200 epochs (anomalib's Adam 5e-3, as in the paper)",
            "init_args": {"backbone": WRN50, "layers": RESNET_LAYERS},
            "image_size": 256,
            "trainer": {"max_epochs": 200},
            "train_batch_size": 16,
        },
        "cpu": {
            **CPU_BASE,
            "why": "resnet18 (RD4AD's decoder exists only for ResNets), 128², 10 epochs",
            "init_args": {"backbone": "resnet18", "layers": RESNET_LAYERS},
            "trainer": {"max_epochs": 10},
        },
    },
}

SNAKE = {"Adps": "adps", "Dmdd": "dmdd", "Patchcore": "patchcore", "ReverseDistillation": "reverse_distillation"}
NORM = "backbone"  # a recipe without "normalization" uses its teacher's own statistics (components.backbone)


def recipe(model: str, kind: str = "cpu") -> dict[str, Any]:
    """A copy of one recipe, with its ``model`` and ``kind`` (edit the copy freely)."""
    if model not in RECIPES:
        raise ValueError(f"Unknown model {model!r}; the recipe table has {', '.join(RECIPES)}")
    if kind not in RECIPES[model]:
        raise ValueError(f"{model} has no {kind!r} recipe; it has {', '.join(RECIPES[model])}")
    return {"model": model, "kind": kind, **copy.deepcopy(RECIPES[model][kind])}


def recipe_name(model: str, kind: str) -> str:
    """The config name of a recipe: ``adps``, ``adps_cpu``, ``dmdd_b`` ..."""
    return SNAKE[model] + KIND_SUFFIX[kind]


def names() -> dict[str, tuple[str, str]]:
    """Every recipe's config name → (model, kind)."""
    return {recipe_name(m, k): (m, k) for m, kinds in RECIPES.items() for k in kinds}


def by_name(name: str) -> dict[str, Any]:
    """A recipe by its config name (``adps_cpu``)."""
    table = names()
    if name not in table:
        raise ValueError(f"Unknown recipe {name!r}; choose from {', '.join(sorted(table))}")
    return recipe(*table[name])


def paper_backbone(model: str) -> dict[str, Any]:
    """The backbone and layers of a model's WRN50 recipe (``paper_b`` where it exists), for ``--paper-backbones``."""
    kinds = RECIPES[model]
    args = kinds.get("paper_b", kinds["paper"])["init_args"]
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


def model_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of a recipe, with its pre-processor at the recipe's image size.

    Every model of a comparison (PatchCore and RD4AD too) gets the same pre-processor: Resize and the teacher's own
    normalisation (timm's pretrained mean/std) unless the recipe says ``"imagenet"``.
    """
    from anomalib_kd_plugins.components.backbone import backbone_pre_processor

    size = spec["image_size"]
    pre = backbone_pre_processor((size, size), spec["init_args"].get("backbone"), spec.get("normalization", NORM))
    return {**spec["init_args"], "pre_processor": pre}


def build_model(spec: dict[str, Any], **overrides: Any) -> Any:
    """Instantiate a recipe's model; the shared evaluator gives every model the same metrics (AP and PRO too)."""
    from anomalib_kd_plugins.components.evaluator import PaperEvaluator

    cls = model_class(spec["model"])
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
    model, kind, size = spec["model"], spec["kind"], spec["image_size"]
    cpu = kind == "cpu"
    trainer: dict[str, Any] = {"accelerator": "cpu" if cpu else "auto", "devices": 1, **spec["trainer"]}
    if trainer.get("max_epochs", -1) > 0:
        trainer["check_val_every_n_epoch"] = trainer["max_epochs"]  # validate once, after the last epoch
    else:  # a step budget: validate once, after the last step (thresholds and normalisation come from it)
        trainer["check_val_every_n_epoch"] = None
        trainer["val_check_interval"] = trainer["max_steps"]
    per_backbone = spec.get("normalization", NORM) == "backbone"
    mean, std = backbone_normalization(spec["init_args"]["backbone"] if per_backbone else None)
    transforms = [
        {"class_path": "torchvision.transforms.v2.Resize", "init_args": {"size": [size, size], "antialias": True}},
        {"class_path": "torchvision.transforms.v2.Normalize", "init_args": {"mean": mean, "std": std}},
    ]
    compose = {"class_path": "torchvision.transforms.v2.Compose", "init_args": {"transforms": transforms}}
    pre = {"class_path": "anomalib.pre_processing.PreProcessor", "init_args": {"transform": compose}}
    class_path = f"anomalib_kd_plugins.{model}" if model in PLUGIN_MODELS else f"anomalib.models.{model}"
    evaluator = {"class_path": "anomalib_kd_plugins.PaperEvaluator"}
    loader = {
        "train_batch_size": spec["train_batch_size"],
        "eval_batch_size": 8 if cpu else spec["train_batch_size"],
        "num_workers": 0 if cpu else 8,
    }
    mvtec = {"root": "./datasets/realphoto" if cpu else "./datasets/MVTecAD", "category": "brick" if cpu else "bottle"}
    data = copy.deepcopy(spec.get("data", {"class_path": "anomalib.data.MVTecAD", "init_args": mvtec}))
    data["init_args"].update(loader)
    config = {
        "seed_everything": 42,
        "default_root_dir": "results",
        "trainer": trainer,
        "model": {
            "class_path": class_path,
            "init_args": {**spec["init_args"], "evaluator": evaluator, "pre_processor": pre},
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
        *textwrap.wrap(spec["why"], 114),
        *usage.splitlines(),
        "Generated from anomalib_kd_plugins/recipes.py: `anomalib-kd config " + name + "` prints it; edit the recipe,",
        "then `anomalib-kd config --write-all anomalib_kd_plugins/configs` (a test checks the two agree).",
    ]
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=None, width=118)
    return "".join(f"# {line}\n" for line in header) + body


def config_names() -> list[str]:
    """The names of the shipped configs: every plugin recipe of ``CONFIG_KINDS``."""
    return [recipe_name(m, k) for m in PLUGIN_MODELS for k in RECIPES[m] if k in CONFIG_KINDS]
