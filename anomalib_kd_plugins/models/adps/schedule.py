"""Learning-rate schedule helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anomalib_kd_plugins.components.student_lr import StudentLrSchedule, student_lr_factor

PAPER_EPOCHS = 300  # ADPS §IV-A2


def multistep_milestones(max_epochs: int | None, fractions: Sequence[float], start: int = 0) -> list[int]:
    """Epochs at ``fractions`` of the epochs after ``start`` (a warm-up): 0.8/0.9 of 300 = 240/270 with no warm-up;
    the paper's 300 when unbounded."""
    total = max_epochs if max_epochs is not None and max_epochs > 0 else PAPER_EPOCHS
    return sorted({start + max(1, round(f * (total - start))) for f in fractions})


@dataclass(frozen=True)
class WarmupMultiStep:
    """The lr factor of an epoch for ``LambdaLR``: ``warmup_factor`` before ``warmup_epochs`` (with
    ``warmup_schedule="cosine"`` annealed from it towards 0 over the warm-up's epochs, with ``"multistep"`` ×0.2 at
    80 % and 90 % of them), then the paper's step decay,
    ``gamma`` per milestone passed (MultiStepLR's values; a callable object, so checkpoints keep it).

    Example:
        >>> f = WarmupMultiStep(warmup_epochs=30, warmup_factor=3.0, milestones=(38, 39), gamma=0.2)
        >>> [f(0), f(30), round(f(38), 3), round(f(39), 3)]
        [3.0, 1.0, 0.2, 0.04]
        >>> annealed = WarmupMultiStep(4, 3.0, (38, 39), 0.2, warmup_schedule="cosine")
        >>> [round(annealed(e), 3) for e in range(5)]
        [3.0, 2.561, 1.5, 0.439, 1.0]
    """

    warmup_epochs: int
    warmup_factor: float
    milestones: tuple[int, ...]
    gamma: float
    warmup_schedule: StudentLrSchedule = "constant"

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.warmup_factor * student_lr_factor(self.warmup_schedule, epoch / self.warmup_epochs)
        return self.gamma ** sum(epoch >= m for m in self.milestones)
