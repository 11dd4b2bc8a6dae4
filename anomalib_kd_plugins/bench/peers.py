"""CPU recipes for the anomalib models the recipe table does not hold, derived from their constructors.

A user comparing Adps or Dmdd with what anomalib already ships names the model (``--models Stfpm``); this module
makes it a recipe the bench can run offline on this machine:

* the backbone becomes the offline tf_efficientnet_lite0, its layers the lite0 stages at the same strides
  (``layer1-4`` → ``blocks.1/2/4/6``, strides 4/8/16/32);
* a model whose anomalib trainer arguments say one epoch (memory banks, PaDiM-style statistics) trains one pass,
  every other one ``CPU_EPOCHS``, or fewer where one epoch is already the CPU budget (``CPU_EPOCHS_OF``: DRAEM); its
  paper's epochs, where known, are in its ``why``;
* DRAEM's texture folder (``dtd_dir``) is a folder of procedural textures this package writes
  (:class:`~anomalib_kd_plugins.components.synthesis.ProceduralTextures`), so nothing is downloaded;
* a model that needs weights or data from the internet is refused before anything trains, with what it needs.

The recipe table keeps the models that need more than this (PatchCore's layers, PaDiM's ``n_features``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from anomalib_kd_plugins.recipes import LITE0, Budget, Recipe

LITE0_AT_STRIDE_OF = {"layer1": "blocks.1", "layer2": "blocks.2", "layer3": "blocks.4", "layer4": "blocks.6"}
CPU_EPOCHS = 10  # about the fit time of the plugins' CPU recipes on the demo suite (2 cores, 128²)
PAPER_EPOCHS = {"Stfpm": 100, "Supersimplenet": 300, "Draem": 700, "ReverseDistillation": 200}
# models whose epoch alone is the CPU budget (about 5 fit minutes per category), with why; measured in
# docs/experiments/2026-12-03-round8.md
CPU_EPOCHS_OF = {
    "Draem": (1, "its two U-Nets (97 M parameters) take about 260 s an epoch at 128² on 2 cores, the whole budget"),
}
NEEDS = {  # what a model downloads that no offline cache here holds
    "EfficientAd": "its pretrained PDN teacher weights and the Imagenette images (imagenet_dir), downloaded at fit",
    "Dsr": "its pretrained VQ-VAE weights, downloaded at fit",
    "WinClip": "OpenAI CLIP weights, downloaded when it is built",
    "VlmAd": "a vision-language model service (Ollama, OpenAI or Hugging Face)",
}
TEXTURES = 64  # procedural textures written for DRAEM's dtd_dir


def is_image_model(cls: type) -> bool:
    """Whether an anomalib model class is an image model (video models take clips, not the bench's images)."""
    return ".models.image." in cls.__module__ or cls.__module__.startswith("anomalib_kd_plugins")


def _lite0_layers(layers: Any) -> list[str] | None:
    """The lite0 stages at the strides of ResNet-style layer names; ``None`` when a name has no lite0 twin."""
    names = [layers] if isinstance(layers, str) else list(layers or [])
    if not names or any(n not in LITE0_AT_STRIDE_OF for n in names):
        return None
    return [LITE0_AT_STRIDE_OF[n] for n in names]


def derived_recipe(model: str, out: Path) -> Recipe:
    """The CPU recipe of an anomalib image model from its constructor (module docstring); ValueError if it cannot
    run here, naming why and what it needs. ``out`` is where inputs it needs are written (DRAEM's textures)."""
    from anomalib_kd_plugins.recipes import model_class

    cls = model_class(model)
    if not is_image_model(cls):
        raise ValueError(f"{model} is not an image model ({cls.__module__}); the bench runs image models")
    if model in NEEDS:
        raise ValueError(f"{model} cannot run offline here: it needs {NEEDS[model]}")
    params = inspect.signature(cls.__init__).parameters
    args: dict[str, Any] = {}
    changed = []
    if "backbone" in params:
        default = params["layers"].default if "layers" in params else params.get("layer", None)
        default = getattr(default, "default", default)
        layers = _lite0_layers(default)
        key = "layers" if "layers" in params else "layer"
        if layers is None and key in params:
            msg = f"{model}'s default layers {default!r} have no tf_efficientnet_lite0 twin; give it a table recipe"
            raise ValueError(msg)
        args["backbone"] = LITE0
        if key in params:
            args[key] = layers if key == "layers" else layers[0]
        changed.append(f"backbone {params['backbone'].default} → {LITE0} ({key} {default!r} → {args.get(key)!r})")
    if "dtd_dir" in params:
        args["dtd_dir"] = str(write_textures(out / "textures"))
        changed.append("dtd_dir → procedural textures written by the bench (no DTD download)")
    one_pass = _one_pass(cls, args)
    epochs, reason = (1, "") if one_pass else CPU_EPOCHS_OF.get(model, (CPU_EPOCHS, ""))
    paper = PAPER_EPOCHS.get(model)
    budget = "one pass" if one_pass else f"{epochs} epoch{'s' * (epochs != 1)}"
    budget += f" (paper: {paper})" if paper and not one_pass else ""
    budget += f": {reason}" if reason else ""
    why = f"derived from {model}'s constructor (bench/peers.py): " + "; ".join([*changed, f"128², {budget}"])
    return Recipe(model, "cpu", why, args, Budget(epochs=epochs), image_size=128, train_batch_size=4)


def _one_pass(cls: type, args: dict[str, Any]) -> bool:
    """Whether anomalib trains the model in one epoch (its ``trainer_arguments``); building it also checks that it
    can be built offline (a model that downloads something when built fails here, before any training)."""
    try:
        model = cls(**args)
    except Exception as exc:  # any failure to build offline: say which model and why, nothing has trained
        raise ValueError(f"{cls.__name__} cannot be built offline here: {type(exc).__name__}: {exc}") from exc
    return model.trainer_arguments.get("max_epochs") == 1


def write_textures(folder: Path, count: int = TEXTURES, size: int = 256, seed: int = 0) -> Path:
    """``count`` procedural colour textures as PNG files in ``folder`` (kept when already written), for DRAEM."""
    import cv2
    import torch

    from anomalib_kd_plugins.components.synthesis import ProceduralTextures

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) >= count:
        return folder
    textures = ProceduralTextures()
    textures.grey = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(count):
            rgb = (textures(size, size, None).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            cv2.imwrite(str(folder / f"texture_{i:03d}.png"), rgb[:, :, ::-1])
    return folder
