"""Learning-rate schedule helpers."""

from __future__ import annotations

from collections.abc import Sequence

PAPER_EPOCHS = 300  # ADPS §IV-A2


def multistep_milestones(max_epochs: int | None, fractions: Sequence[float], start: int = 0) -> list[int]:
    """Epochs at ``fractions`` of the epochs after ``start`` (a warm-up): 0.8/0.9 of 300 = 240/270 with no warm-up;
    the paper's 300 when unbounded."""
    total = max_epochs if max_epochs is not None and max_epochs > 0 else PAPER_EPOCHS
    return sorted({start + max(1, round(f * (total - start))) for f in fractions})
