"""Named model presets: the papers' settings and fast CPU presets (mirrored by ``configs/*.yaml``, checked by tests).

CPU presets trade fidelity for minutes on a 2-core machine and say so in their names: the ImageNet
tf_efficientnet_lite0 teacher (the one whose weights ship offline) and 128×128 images. ADPS: k = 4 (the paper's
32-px student patches at half the resolution), a 10× larger learning rate for a 10-epoch schedule, ImageNet
normalisation and σ = 4. DMDD: a 128-channel segmentation head, 8 epochs (20 % student phase), DeSTSeg's batch-sum KD
reduction and 4-branch ASPP, and lite0's own normalisation. Each choice was measured on the four demo categories
(README, "Quality experiments"): 20 epochs instead of 10 (Adps) or 16 instead of 8 (Dmdd) did not raise the mean
pixel AP or PRO; σ = 2 tied σ = 4 and σ = 8 was worse.

The baselines of the side-by-side benchmark (``anomalib-kd bench``) have presets here too, so that every model in a
comparison is built and trained by the same code: PatchCore on the same offline teacher (WRN50 ``layer2``/``layer3``
↔ lite0 ``blocks.2``/``blocks.4``, strides 8/16), and RD4AD, whose decoder exists only for ResNets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LITE0_LAYERS = ["blocks.1", "blocks.2", "blocks.4"]  # strides 4/8/16, like WRN50 layer1-3
PLUGIN_MODELS = ("Adps", "Dmdd")
NORM = "backbone"  # every preset normalises with its teacher's own statistics (components.backbone)

PRESETS: dict[str, dict[str, Any]] = {
    # ADPS §IV-A2: WRN50-2, 256², k = 8, Adam 1e-4, batch 32, 300 epochs, ×0.2 at 240/270, λ = 1
    "adps": {
        "model": "Adps",
        "init_args": {"backbone": "wide_resnet50_2", "layers": ["layer1", "layer2", "layer3"], "k": 8, "lr": 1e-4},
        "image_size": 256,
        "trainer": {"max_epochs": 300},
        "train_batch_size": 32,
    },
    "adps_cpu": {
        "model": "Adps",
        "init_args": {"backbone": "tf_efficientnet_lite0", "layers": LITE0_LAYERS, "k": 4, "lr": 1e-3},
        "image_size": 128,
        # lite0's own 0.5/0.5 lowered Adps's mean pixel AP 0.321 → 0.253 on the demo suite (seed 0; README)
        "normalization": "imagenet",
        "trainer": {"max_epochs": 10},
        "train_batch_size": 4,
    },
    # DMDD reconstruction (papers.md §2.2) on DeSTSeg's recipe: resnet18 layer1-3, 256², batch 32, 5000 SGD steps
    # (student phase: the first 1000)
    "dmdd": {
        "model": "Dmdd",
        "init_args": {"backbone": "resnet18", "layers": ["layer1", "layer2", "layer3"], "lr_student": 0.4},
        "image_size": 256,
        "trainer": {"max_steps": 5000, "max_epochs": -1},
        "train_batch_size": 32,
    },
    "dmdd_cpu": {
        "model": "Dmdd",
        # DeSTSeg's batch-sum KD reduction and 4-branch ASPP: demo-suite mean pixel AP 0.389 → 0.474 (seed 0; README)
        "init_args": {
            "backbone": "tf_efficientnet_lite0",
            "layers": LITE0_LAYERS,
            "seg_channels": 128,
            "kd_reduction": "batch_sum",
            "aspp": "destseg",
        },
        "image_size": 128,
        "trainer": {"max_epochs": 8},
        "train_batch_size": 4,
    },
    # PatchCore (Roth et al. 2022): WRN50 layer2+3, 10 % coreset, one pass over the training set
    "patchcore": {
        "model": "Patchcore",
        "init_args": {"backbone": "wide_resnet50_2", "layers": ["layer2", "layer3"], "coreset_sampling_ratio": 0.1},
        "image_size": 256,
        "trainer": {"max_epochs": 1},
        "train_batch_size": 32,
    },
    "patchcore_cpu": {
        "model": "Patchcore",
        "init_args": {"backbone": "tf_efficientnet_lite0", "layers": ["blocks.2", "blocks.4"]},
        "image_size": 128,
        "trainer": {"max_epochs": 1},
        "train_batch_size": 4,
    },
    # RD4AD (Deng & Li 2022): WRN50 layer1-3, 200 epochs (anomalib's RD uses Adam 5e-3 as in the paper)
    "reverse_distillation": {
        "model": "ReverseDistillation",
        "init_args": {"backbone": "wide_resnet50_2", "layers": ["layer1", "layer2", "layer3"]},
        "image_size": 256,
        "trainer": {"max_epochs": 200},
        "train_batch_size": 16,
    },
    "reverse_distillation_cpu": {
        "model": "ReverseDistillation",
        "init_args": {"backbone": "resnet18", "layers": ["layer1", "layer2", "layer3"]},
        "image_size": 128,
        "trainer": {"max_epochs": 10},
        "train_batch_size": 4,
    },
}


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


def model_kwargs(name: str | dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of a preset (name or dict), with its pre-processor at the preset's image size.

    Every model of a comparison (PatchCore and RD4AD too) gets the same pre-processor: Resize and the teacher's own
    normalisation (``"normalization": "backbone"``, timm's pretrained mean/std) unless the preset says
    ``"imagenet"``.
    """
    from anomalib_kd_plugins.components.backbone import backbone_pre_processor

    preset = PRESETS[name] if isinstance(name, str) else name
    size = preset["image_size"]
    pre = backbone_pre_processor((size, size), preset["init_args"].get("backbone"), preset.get("normalization", NORM))
    return {**preset["init_args"], "pre_processor": pre}


def build_model(preset: dict[str, Any], **overrides: Any) -> Any:
    """Instantiate a preset's model; the shared evaluator gives every model the same metrics (AP and PRO too)."""
    from anomalib_kd_plugins.components.evaluator import PaperEvaluator

    cls = model_class(preset["model"])
    kwargs = {"evaluator": PaperEvaluator(), **model_kwargs(preset), **overrides}
    return cls(**kwargs)


def fit_and_test_datamodule(
    preset: dict[str, Any], datamodule: Any, workdir: str | Path, model: Any = None, **engine_kwargs: Any
) -> tuple[dict[str, float], Any, Any]:
    """Train a preset with anomalib's Engine on CPU and test it; returns (metrics + ``fit_s``, engine, model).

    Validation runs once, after the last epoch (it sets the thresholds). ``engine_kwargs`` override Engine
    arguments; ``visualizer=False`` turns the model's visualiser off.
    """
    import time

    from anomalib.engine import Engine

    model_overrides = {"visualizer": engine_kwargs.pop("visualizer")} if "visualizer" in engine_kwargs else {}
    model = model if model is not None else build_model(preset, **model_overrides)
    trainer_args = {**preset["trainer"]}
    for key in ("max_epochs", "max_steps"):
        if key in engine_kwargs:
            trainer_args[key] = engine_kwargs.pop(key)
    val_every = trainer_args["max_epochs"] if trainer_args.get("max_epochs", -1) > 0 else 1
    engine = Engine(
        **{
            **trainer_args,
            "accelerator": "cpu",
            "devices": 1,
            "default_root_dir": workdir,
            "logger": False,
            "check_val_every_n_epoch": val_every,
            **engine_kwargs,
        }
    )
    start = time.perf_counter()
    engine.fit(model, datamodule=datamodule)
    fit_s = time.perf_counter() - start
    metrics = {k: float(v) for k, v in engine.test(model, datamodule=datamodule, verbose=False)[0].items()}
    return {**metrics, "fit_s": fit_s}, engine, model


def fit_and_test(
    name: str,
    root: str | Path,
    category: str,
    workdir: str | Path,
    max_epochs: int | None = None,
    **engine_kwargs: Any,
) -> tuple[dict[str, float], Any]:
    """Train a named preset on an MVTec-layout category on CPU and test it; returns (metrics + ``fit_s``, engine)."""
    from anomalib.data import MVTecAD

    preset = PRESETS[name]
    datamodule = MVTecAD(
        root=root,
        category=category,
        train_batch_size=preset["train_batch_size"],
        eval_batch_size=8,
        num_workers=0,
        seed=0,
    )
    if max_epochs:
        engine_kwargs["max_epochs"] = max_epochs
    metrics, engine, _ = fit_and_test_datamodule(preset, datamodule, workdir, **engine_kwargs)
    return metrics, engine
