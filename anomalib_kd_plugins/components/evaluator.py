"""The metrics both papers report, through anomalib's own metric classes.

The models keep anomalib's default evaluator (image/pixel AUROC and F1), so their results share column names with
every other anomalib model, which ``anomalib benchmark`` requires to put them in one results table. The papers' pixel
AP and PRO come with :class:`PaperEvaluator`: ``--model.evaluator anomalib_kd_plugins.PaperEvaluator`` on the CLI,
``Adps(evaluator=PaperEvaluator())`` in Python; the recipes, the demo and ``anomalib-kd bench`` use it for all models.
"""

from __future__ import annotations

from anomalib.metrics import AUPR, AUPRO, AUROC, Evaluator, F1Score


class PaperEvaluator(Evaluator):
    """anomalib's default four (same names) plus pixel AP (AUPR) and PRO (AUPRO, FPR ≤ 0.3), for any model."""

    def __init__(self, fpr_limit: float = 0.3, compute_on_cpu: bool = True) -> None:
        test_metrics = [
            AUROC(fields=["pred_score", "gt_label"], prefix="image_"),
            F1Score(fields=["pred_label", "gt_label"], prefix="image_"),
            AUROC(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False),
            F1Score(fields=["pred_mask", "gt_mask"], prefix="pixel_", strict=False),
            AUPR(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False),
            AUPRO(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False, fpr_limit=fpr_limit),
        ]
        super().__init__(test_metrics=test_metrics, compute_on_cpu=compute_on_cpu)
