"""The student's learning-rate schedule over the steps in which it trains, shared by both models' CPU recipes."""

from __future__ import annotations

import math
from typing import Literal, get_args

StudentLrSchedule = Literal["constant", "cosine"]
STUDENT_LR_SCHEDULES = get_args(StudentLrSchedule)


def student_lr_factor(schedule: StudentLrSchedule, progress: float) -> float:
    """The factor on the student's lr at ``progress`` (0 → 1) through its training: 1 for ``"constant"``;
    ½(1 + cos(π·progress)) for ``"cosine"``, which anneals it to 0 so its distance to the teacher settles instead of
    falling as a power of the steps (docs/experiments/2026-12-05-round15.md).

    Example:
        >>> [student_lr_factor("cosine", p) for p in (0.0, 0.5, 1.0)]
        [1.0, 0.5, 0.0]
    """
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
