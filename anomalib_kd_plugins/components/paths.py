"""Folders and checkpoint files as users have them: say what is wrong with one before anomalib or Lightning fails.

* :func:`check_ascii_data_paths`: anomalib 2.7 refuses every data path with a character outside printable ASCII
  (``validate_path``: "Path contains non-printable characters", for an ``é`` too). Checked in ``prepare_data``,
  before the datamodule's ``setup`` reads the folder; an ASCII symlink is accepted, since anomalib checks the path
  it is given before following links.
* :func:`check_checkpoint_file` and :class:`CheckedCheckpointIO`: a missing, empty, truncated or foreign checkpoint,
  named with its size. The model installs the checked loader in ``setup``, which Lightning runs before it restores
  ``ckpt_path`` (fit, test, predict; the stock ``anomalib test --ckpt_path``), so the file is read once, by
  anomalib's own ``weights_only=True`` loader: this package's checkpoints hold tensors and plain values only.
* :func:`check_output_dir`: an output folder that cannot be created or written (a path through a regular file),
  checked before anomalib's Engine creates it (``registry.guard_engine``).
"""

from __future__ import annotations

import os
import pickle
import shlex
import zipfile
from pathlib import Path
from typing import Any

from anomalib.engine.plugins import AnomalibCheckpointIO
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

DATA_PATH_ARGS = ("root", "normal_dir", "abnormal_dir", "normal_test_dir", "mask_dir")
GOOD_CHECKPOINT = (
    "Copy the file again in full, or train again: `anomalib train --model ... --data ...` writes "
    "DEFAULT_ROOT_DIR/MODEL/DATASET/CATEGORY/latest/weights/lightning/model.ckpt."
)


def non_ascii(text: str) -> list[tuple[int, str]]:
    """(position, character) of every character outside printable ASCII (``[\\x20-\\x7E]``, what anomalib reads)."""
    return [(i, ch) for i, ch in enumerate(text) if not " " <= ch <= "~"]


def check_ascii_data_paths(datamodule: object) -> None:
    """Raise a ValueError naming the characters anomalib 2.7 will refuse in the datamodule's paths, and the fix."""
    for arg in DATA_PATH_ARGS:
        value = getattr(datamodule, arg, None)
        for path in value if isinstance(value, list | tuple) else [value]:
            if path is None or not (found := non_ascii(str(path))):
                continue
            chars = ", ".join(f"{ch!r} at position {i}" for i, ch in found[:10])
            link = Path("/tmp") / f"anomalib_data_{arg}"
            full = Path(path).expanduser()
            raise ValueError(
                f"anomalib 2.7 reads data only from paths made of printable ASCII characters; --data.{arg} "
                f"{str(path)!r} has {chars} (anomalib's validate_path would call them 'non-printable'). Rename the "
                f"folder, or point --data.{arg} at an ASCII symlink, which anomalib accepts: "
                f"`ln -s {shlex.quote(str(full.resolve() if full.exists() else full))} {link}` and "
                f"`--data.{arg} {link}`. Nothing has been read or trained yet."
            )


def _check_present(path: Path) -> int:
    """The file's size; FileNotFoundError or ValueError for a missing or empty file."""
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist (or is not a file). {GOOD_CHECKPOINT}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"Checkpoint {path} is empty (0 bytes). {GOOD_CHECKPOINT}")
    return size


def _unreadable(path: Path, size: int, error: BaseException) -> ValueError | None:
    """What a loader's error says about the file, as one sentence; None where the loader should decide (its own)."""
    if isinstance(error, pickle.UnpicklingError):
        if "Unsupported global" in str(error):
            return None  # readable, but holds objects beyond tensors: Lightning's loader decides (not one of ours)
        reason = [line for line in str(error).splitlines() if "Unsupported" in line] or str(error).splitlines()[:1]
        return ValueError(
            f"Checkpoint {path} ({size:,} bytes) is not a readable PyTorch checkpoint: damaged or another kind of "
            f"file ({reason[0] if reason else type(error).__name__}). {GOOD_CHECKPOINT}"
        )
    if isinstance(error, RuntimeError | OSError | EOFError | zipfile.BadZipFile):
        reason = (str(error).splitlines() or [""])[0]
        return ValueError(
            f"Checkpoint {path} ({size:,} bytes) is not a readable PyTorch checkpoint: truncated or damaged "
            f"({type(error).__name__}: {reason}). {GOOD_CHECKPOINT}"
        )
    return None


def _check_lightning(path: Path, size: int, checkpoint: Any) -> None:
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        kind = type(checkpoint).__name__
        raise ValueError(
            f"{path} ({size:,} bytes) is a PyTorch file but not a Lightning checkpoint (a {kind} without "
            f"'state_dict'); `--ckpt_path` takes the model.ckpt that `anomalib train` writes. {GOOD_CHECKPOINT}"
        )


def _load_checked(path: Any, load: Any) -> dict[str, Any]:
    """``load()`` the checkpoint at ``path``; a missing, empty, damaged or foreign file raises one sentence instead."""
    file = Path(path)
    size = _check_present(file)
    try:
        checkpoint = load()
    except Exception as error:
        if (mapped := _unreadable(file, size, error)) is None:
            raise
        raise mapped from None
    _check_lightning(file, size, checkpoint)
    return checkpoint


def check_checkpoint_file(path: str | Path) -> None:
    """Raise an error naming a checkpoint that cannot be restored: missing, empty, truncated or not Lightning's."""
    import torch

    try:
        _load_checked(path, lambda: torch.load(path, map_location="cpu", weights_only=True))
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):
            raise  # readable, but holds objects beyond tensors: Lightning's loader decides (not one of ours)


class CheckedCheckpointIO(AnomalibCheckpointIO):
    """anomalib's ``weights_only`` checkpoint loader, whose failures name the file, its size and the fix.

    Example:
        >>> from anomalib_kd_plugins.components.paths import CheckedCheckpointIO
        >>> io = CheckedCheckpointIO()  # what a model's ``setup`` puts on ``trainer.strategy.checkpoint_io``
    """

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Load as anomalib does; a missing, empty, damaged or foreign file raises one sentence instead."""
        return _load_checked(path, lambda: super(CheckedCheckpointIO, self).load_checkpoint(path, *args, **kwargs))


def check_checkpoint_restores(trainer: Any) -> None:
    """Put :class:`CheckedCheckpointIO` in place of anomalib's or Lightning's default loader (any other is kept)."""
    strategy = getattr(trainer, "strategy", None)
    io = getattr(strategy, "checkpoint_io", None)
    if type(io) is AnomalibCheckpointIO:
        strategy.checkpoint_io = CheckedCheckpointIO(extra_safe_globals=io.extra_safe_globals)
    elif type(io) is TorchCheckpointIO:
        strategy.checkpoint_io = CheckedCheckpointIO()


def check_output_dir(path: str | Path, flag: str = "--default_root_dir") -> None:
    """Raise an error naming the part of ``path`` that is not a folder, or not writable, before anything is created."""
    path = Path(path).expanduser().absolute()
    for part in [path, *path.parents]:
        if not part.exists():
            continue
        if not part.is_dir():
            raise NotADirectoryError(
                f"{flag} {path} cannot be created: {part} is a file, not a folder. Pass another {flag} "
                f"(e.g. ./results) or move that file away. Nothing has been trained or written yet."
            )
        if not os.access(part, os.W_OK | os.X_OK):
            raise PermissionError(
                f"{flag} {path} cannot be created: the folder {part} is not writable by this user. Pass a "
                f"{flag} you can write to (e.g. ./results), or change the folder's permissions. Nothing has been "
                f"trained or written yet."
            )
        return
