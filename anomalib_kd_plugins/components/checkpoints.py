"""Checkpoint content checks: which model a checkpoint holds, and which arguments differ, in one sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHECKPOINT_MODEL_KEY = "anomalib_kd_model"
# checkpoints written before CHECKPOINT_MODEL_KEY existed: a weight only that model has
MODEL_SIGNATURES = {"Adps": "model.psm.", "Dmdd": "model.decouple."}


def checkpoint_model(checkpoint: dict[str, Any]) -> str | None:
    """The plugin model that wrote ``checkpoint``, from its record or, for older files, its weights' names."""
    if CHECKPOINT_MODEL_KEY in checkpoint:
        return str(checkpoint[CHECKPOINT_MODEL_KEY])
    keys = checkpoint.get("state_dict") or {}
    return next((name for name, prefix in MODEL_SIGNATURES.items() if any(k.startswith(prefix) for k in keys)), None)


SUMMARY_KEYS = ("backbone", "layers", "pre_trained")


def _a(word: str) -> str:
    return f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}"


def _hparams_text(hparams: dict[str, Any], keys: Sequence[str] | None = None) -> str:
    simple = (str, int, float, bool, list, tuple, type(None))
    items = [(k, v) for k, v in hparams.items() if isinstance(v, simple) and (keys is None or k in keys)]
    return ", ".join(f"{k}={v!r}" for k, v in items[:8]) or "none recorded"


def check_checkpoint(checkpoint: dict[str, Any], module: Any) -> None:
    """Say in one sentence which model a checkpoint holds, or which arguments differ, instead of a state_dict dump."""
    name = type(module).__name__
    saved_hp = dict(checkpoint.get("hyper_parameters") or {})
    saved = checkpoint_model(checkpoint)
    if saved is not None and saved != name:
        raise ValueError(
            f"This checkpoint holds {_a(saved)} model (saved with {_hparams_text(saved_hp, SUMMARY_KEYS)}), not "
            f"{_a(name)} model: use `--model {saved}` (or {saved}.load_from_checkpoint)."
        )
    state = checkpoint.get("state_dict")
    if state is None:
        return
    current = {k: v.shape for k, v in module.state_dict().items() if k.startswith("model.")}
    stored = {k: v.shape for k, v in state.items() if k.startswith("model.")}
    missing = [k for k in current if k not in stored]
    unexpected = [k for k in stored if k not in current]
    reshaped = [k for k in current if k in stored and tuple(stored[k]) != tuple(current[k])]
    if not (missing or unexpected or reshaped):
        return
    if saved is None and len(missing) > len(current) // 2:
        raise ValueError(
            f"This checkpoint does not hold a {name} model: {len(missing)} of its {len(current)} weights are missing "
            f"and it has others ({unexpected[:3]}). Give `--model` the model class it was trained with "
            f"(saved hyper-parameters: {_hparams_text(saved_hp)})."
        )
    now = dict(getattr(module, "hparams", {}))
    differ = [k for k in saved_hp if k in now and str(saved_hp[k]) != str(now[k])]
    raise ValueError(
        f"This {name} checkpoint was trained with other arguments than this {name} model "
        f"({len(missing)} missing, {len(unexpected)} unexpected, {len(reshaped)} differently shaped weights, e.g. "
        f"{(reshaped or missing or unexpected)[:2]}). Saved: {_hparams_text(saved_hp, differ)}; here: "
        f"{_hparams_text(now, differ)}. Build the model with the saved arguments (e.g. `--model.backbone ...`, or "
        "the run's config.yaml)."
    )
