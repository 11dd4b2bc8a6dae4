"""The student's learning-rate schedule over the steps in which it trains, shared by both models' CPU recipes."""

from __future__ import annotations

import math
from typing import Literal, get_args

StudentLrSchedule = Literal["constant", "cosine", "multistep"]
STUDENT_LR_SCHEDULES = get_args(StudentLrSchedule)


MULTISTEP = ((0.8, 0.2), (0.9, 0.2))  # ADPS §IV-A2's decay (×0.2 at 240 and 270 of 300 epochs), as shares of the run


def student_lr_factor(schedule: StudentLrSchedule, progress: float) -> float:
    """The factor on the student's lr at ``progress`` (0 → 1) through its training: 1 for ``"constant"``;
    ½(1 + cos(π·progress)) for ``"cosine"``, which anneals it to 0 so its distance to the teacher settles instead of
    falling as a power of the steps (docs/experiments/2026-12-05-round15.md); for ``"multistep"`` the shape of the
    ADPS paper's own decay, ×0.2 at 80 % and again at 90 % of the student's training, which keeps the full lr for
    most of it and lets the student settle at the end.

    Example:
        >>> [student_lr_factor("cosine", p) for p in (0.0, 0.5, 1.0)]
        [1.0, 0.5, 0.0]
        >>> [round(student_lr_factor("multistep", p), 3) for p in (0.0, 0.79, 0.8, 0.9, 1.0)]
        [1.0, 1.0, 0.2, 0.04, 0.04]
    """
    if schedule == "constant":
        return 1.0
    if schedule == "multistep":
        return math.prod((gamma for share, gamma in MULTISTEP if progress >= share - 1e-9), start=1.0)
    return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
