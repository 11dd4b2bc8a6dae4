"""Benchmark outputs: a CSV (one row per model × category, plus each model's mean), a markdown table, PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .suites import NEEDS_WEIGHTS
from .worker import METRICS

SPEED = ("fit_s", "latency_ms_b1", "throughput_ips_b8", "ov_latency_ms_b1", "ov_throughput_ips_b8")
SIZE = ("peak_rss_mb", "params_m", "state_mb")
# OpenVINO's inference precision (f32, bf16): the CPU plugin picks bf16 by default where the CPU supports it
PRECISION = "ov_precision"
COLUMNS = (
    "suite",
    "model",
    "category",
    "backbone",
    "pre_trained",
    "image_size",
    "train",
    *METRICS,
    *SPEED,
    PRECISION,
    *SIZE,
)
LABELS = {
    "image_AUROC": "img AUROC",
    "pixel_AUROC": "pix AUROC",
    "pixel_AUPR": "pix AP",
    "pixel_AUPRO": "PRO",
    "image_F1Score": "img F1",
    "pixel_F1Score": "pix F1",
    "fit_s": "fit s",
    "latency_ms_b1": "ms/img b1",
    "throughput_ips_b8": "img/s b8",
    "ov_latency_ms_b1": "OV ms/img b1",
    "ov_throughput_ips_b8": "OV img/s b8",
    PRECISION: "OV precision",
    "peak_rss_mb": "peak RSS MiB",
    "params_m": "params M",
}


def frame(rows: list[dict[str, Any]]) -> Any:
    """Rows plus one ``category="mean"`` row per model (NaN-aware mean; peak RSS and size are per model anyway)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = float("nan")
    if "note" not in df:
        df["note"] = ""
    df["note"] = df["note"].fillna("")
    numeric = [c for c in (*METRICS, *SPEED, *SIZE) if c in df]
    df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce")
    means = []
    for model, group in df.groupby("model", sort=False):
        first = group.iloc[0].to_dict()
        mean = {**first, **group[numeric].mean(numeric_only=True).to_dict(), "category": "mean"}
        mean["peak_rss_mb"] = group["peak_rss_mb"].max()
        mean["model"] = model
        means.append(mean)
    extra = [c for c in df.columns if c not in COLUMNS and c != "note"]
    return pd.concat([df, pd.DataFrame(means)], ignore_index=True)[[*COLUMNS, *extra, "note"]]


def write_csv(df: Any, path: Path) -> Path:
    """The full table, every column, every row."""
    df.to_csv(path, index=False, float_format="%.6g")
    return path


def _cell(row: Any, col: str) -> str:
    value = row[col]
    if col in METRICS and NEEDS_WEIGHTS in str(row["note"]):
        return NEEDS_WEIGHTS
    if value != value or value is None:  # NaN
        return "–"
    if isinstance(value, str):
        return value
    if col in METRICS:
        return f"{value:.3f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def markdown(df: Any, baseline: str | None = "Patchcore") -> str:
    """Per-model means (with speed and memory ratios against ``baseline`` of the same run) and per-category AUROCs."""
    means = df[df["category"] == "mean"]
    shown = (*METRICS, *SPEED, PRECISION, "peak_rss_mb", "params_m")
    cols = [c for c in shown if means[c].notna().any() or c in METRICS]
    base = means[means["model"] == baseline]
    ratio_cols = [("fit_s", "fit"), ("latency_ms_b1", "latency"), ("peak_rss_mb", "RSS")]
    ratios = not base.empty
    head = ["model", "backbone", *[LABELS.get(c, c) for c in cols]]
    if ratios:
        head += [f"{label} ×{baseline}" for _, label in ratio_cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in means.iterrows():
        cells = [str(row["model"]), str(row["backbone"]), *[_cell(row, c) for c in cols]]
        if ratios:
            cells += [f"{row[c] / base.iloc[0][c]:.2f}" for c, _ in ratio_cols]
        lines.append("| " + " | ".join(cells) + " |")
    per_cat = df[df["category"] != "mean"]
    cats = list(dict.fromkeys(per_cat["category"]))
    lines += ["", "Per category (image AUROC / pixel AUROC / PRO):", ""]
    lines += ["| model | " + " | ".join(cats) + " |", "|" + "---|" * (len(cats) + 1)]
    for model, group in per_cat.groupby("model", sort=False):
        by_cat = {r["category"]: r for _, r in group.iterrows()}
        cells = []
        for cat in cats:
            r = by_cat.get(cat)
            if r is None:
                cells.append("–")
            elif NEEDS_WEIGHTS in str(r["note"]):
                cells.append(NEEDS_WEIGHTS)
            else:
                cells.append(" / ".join(_cell(r, m) for m in ("image_AUROC", "pixel_AUROC", "pixel_AUPRO")))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plots(df: Any, out: Path) -> list[Path]:
    """quality_vs_latency.png (pixel and image AUROC against ms/image) and per_category.png (grouped bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    means = df[(df["category"] == "mean") & df["pixel_AUROC"].notna()]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for _, row in means.iterrows():
        for metric, marker in (("pixel_AUROC", "o"), ("image_AUROC", "s")):
            ax.scatter(row["latency_ms_b1"], row[metric], marker=marker, s=60)
            ax.annotate(f"{row['model']} ({metric.split('_')[0]})", (row["latency_ms_b1"], row[metric]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("torch eager latency, ms/image at batch 1 (log)")
    ax.set_ylabel("AUROC (o pixel, s image)")
    ax.set_title("Quality against latency (mean over categories)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    scatter = out / "quality_vs_latency.png"
    fig.savefig(scatter, dpi=120)
    plt.close(fig)

    per_cat = df[(df["category"] != "mean") & df["pixel_AUROC"].notna()]
    cats = list(dict.fromkeys(per_cat["category"]))
    models = list(dict.fromkeys(per_cat["model"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    width = 0.8 / max(1, len(models))
    for ax, metric in zip(axes, ("image_AUROC", "pixel_AUROC"), strict=True):
        for j, model in enumerate(models):
            sub = per_cat[per_cat["model"] == model].set_index("category")
            values = [sub[metric].get(c, np.nan) for c in cats]
            ax.bar(np.arange(len(cats)) + j * width, values, width, label=model)
        ax.set_xticks(np.arange(len(cats)) + width * (len(models) - 1) / 2, cats)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
        ax.set_title(metric)
        ax.set_ylim(0.0, 1.0)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    bars = out / "per_category.png"
    fig.savefig(bars, dpi=120)
    plt.close(fig)
    return [scatter, bars]
