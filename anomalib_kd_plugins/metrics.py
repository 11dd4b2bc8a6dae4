"""The metric vocabulary, in one place: anomalib's names for the metrics the papers report, and their labels.

:class:`~anomalib_kd_plugins.components.evaluator.PaperEvaluator` computes exactly ``METRICS``; the demo, the bench,
its report and ``benchmarks/`` read the names and labels from here.
"""

from __future__ import annotations

METRICS = ("image_AUROC", "pixel_AUROC", "pixel_AUPR", "pixel_AUPRO", "image_F1Score", "pixel_F1Score")
RANKING_METRICS = METRICS[:4]  # threshold-free: they rank maps and scores, so no threshold or clamp moves them
QUALITY = ("pixel_AUPR", "pixel_AUPRO", "image_AUROC", "pixel_AUROC")  # the order tables report: pixel AP first
CELL = QUALITY[:3]  # a compact table cell: pixel AP / PRO / image AUROC
PER_CATEGORY = ("pixel_AUPR", "pixel_AUPRO", "pixel_AUROC", "image_AUROC")  # the bench report's per-category cells
LABELS = {
    "pixel_AUPR": "pixel AP",
    "pixel_AUPRO": "PRO",
    "image_AUROC": "image AUROC",
    "pixel_AUROC": "pixel AUROC",
    "image_F1Score": "image F1",
    "pixel_F1Score": "pixel F1",
}
SHORT_LABELS = {  # for wide tables
    "pixel_AUPR": "pix AP",
    "pixel_AUPRO": "PRO",
    "image_AUROC": "img AUROC",
    "pixel_AUROC": "pix AUROC",
    "image_F1Score": "img F1",
    "pixel_F1Score": "pix F1",
}


def cell_label(metrics: tuple[str, ...] = CELL) -> str:
    """``pixel AP / PRO / image AUROC``: what a table cell of ``metrics`` holds."""
    return " / ".join(LABELS[m] for m in metrics)
