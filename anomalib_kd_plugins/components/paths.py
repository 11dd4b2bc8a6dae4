"""Folders and checkpoint files as users have them: say what is wrong with one before anomalib or Lightning fails.

* :func:`check_ascii_data_paths`: anomalib 2.7 refuses every data path with a character outside printable ASCII
  (``validate_path``: "Path contains non-printable characters", for an ``é`` too). Checked in ``prepare_data``,
  before the datamodule's ``setup`` reads the folder; an ASCII symlink is accepted, since anomalib checks the path
  it is given before following links.
* :func:`check_checkpoint_file`: a missing, empty, truncated or foreign checkpoint, named with its size, checked in
  ``setup`` before Lightning restores it when the trainer names it there (``trainer.ckpt_path = ...``;
  ``weights_only=True``: this package's checkpoints hold tensors and plain values only). Lightning 2.6 does not
  expose the path of ``trainer.test(ckpt_path=...)`` (the stock ``anomalib test --ckpt_path``) before it restores.
"""

from __future__ import annotations

import pickle
import shlex
import zipfile
from pathlib import Path
from typing import Any

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


def check_checkpoint_file(path: str | Path) -> None:
    """Raise a ValueError naming a checkpoint that cannot be restored: missing, empty, truncated or not Lightning's."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist (or is not a file). {GOOD_CHECKPOINT}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"Checkpoint {path} is empty (0 bytes). {GOOD_CHECKPOINT}")
    try:
        checkpoint: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" in str(error):
            return  # readable, but holds objects beyond tensors: Lightning's loader decides (not one of ours)
        reason = [line for line in str(error).splitlines() if "Unsupported" in line] or str(error).splitlines()[:1]
        raise ValueError(
            f"Checkpoint {path} ({size:,} bytes) is not a readable PyTorch checkpoint: damaged or another kind of "
            f"file ({reason[0]}). {GOOD_CHECKPOINT}"
        ) from None
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            f"Checkpoint {path} ({size:,} bytes) is not a readable PyTorch checkpoint: truncated or damaged "
            f"({type(error).__name__}: {reason}). {GOOD_CHECKPOINT}"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        kind = type(checkpoint).__name__
        raise ValueError(
            f"{path} ({size:,} bytes) is a PyTorch file but not a Lightning checkpoint (a {kind} without "
            f"'state_dict'); `--ckpt_path` takes the model.ckpt that `anomalib train` writes. {GOOD_CHECKPOINT}"
        )
