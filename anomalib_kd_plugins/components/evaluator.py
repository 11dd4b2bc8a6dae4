"""The metrics both papers report, through anomalib's own metric classes."""

from __future__ import annotations

from anomalib.metrics import AUPR, AUPRO, AUROC, Evaluator, F1Score


def default_evaluator() -> Evaluator:
    """anomalib's default four (names kept for benchmark CSVs) plus pixel AP (AUPR) and PRO (AUPRO, FPR ≤ 0.3)."""
    test_metrics = [
        AUROC(fields=["pred_score", "gt_label"], prefix="image_"),
        F1Score(fields=["pred_label", "gt_label"], prefix="image_"),
        AUROC(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False),
        F1Score(fields=["pred_mask", "gt_mask"], prefix="pixel_", strict=False),
        AUPR(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False),
        AUPRO(fields=["anomaly_map", "gt_mask"], prefix="pixel_", strict=False, fpr_limit=0.3),
    ]
    return Evaluator(test_metrics=test_metrics)
