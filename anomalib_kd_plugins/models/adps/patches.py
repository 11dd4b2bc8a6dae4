"""Split an image into k×k non-overlapping patches and tile per-patch features back (ADPS §III-A, Algorithm 1)."""

from __future__ import annotations

import torch


def split_patches(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, H, W) -> (B·k², C, H/k, W/k), patches in row-major order; the student's asymmetric input I_S."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, k, h // k, k, w // k).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b * k * k, c, h // k, w // k)


def merge_patches(f: torch.Tensor, k: int) -> torch.Tensor:
    """(B·k², C, h, w) -> (B, C, k·h, k·w): re-tile per-patch features "by the original position correspondence"."""
    n, c, h, w = f.shape
    b = n // (k * k)
    f = f.reshape(b, k, k, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return f.reshape(b, c, k * h, k * w)
