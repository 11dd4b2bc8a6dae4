"""Benchmark outputs: a CSV (one row per model × category, plus each model's mean), a markdown table, PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anomalib_kd_plugins.metrics import CELL, METRICS, PER_CATEGORY, SHORT_LABELS, cell_label

from .suites import NEEDS_WEIGHTS

SPEED = (
    "fit_s",
    "floor_ms_b1",
    "latency_ms_b1",
    "throughput_ips_b8",
    "ov_latency_ms_b1",
    "ov_throughput_ips_b8",
    "int8_latency_ms_b1",
    "int8_throughput_ips_b8",
)
# quality of the exported graphs (``--backends openvino-int8``): OpenVINO FP32 and INT8, f32 pinned for float layers
DEPLOYED = tuple(f"{kind}_{m}" for kind in ("ov", "int8") for m in CELL)
SIZE = ("peak_rss_mb", "params_m", "state_mb")
# OpenVINO's inference precision (f32, bf16): the CPU plugin picks bf16 by default where the CPU supports it
PRECISION = "ov_precision"
COLUMNS = (
    "suite",
    "model",
    "category",
    "seed",
    "backbone",
    "pre_trained",
    "image_size",
    "train",
    *METRICS,
    *SPEED,
    PRECISION,
    *SIZE,
    *DEPLOYED,
)
LABELS = {
    **SHORT_LABELS,
    "fit_s": "fit s",
    "latency_ms_b1": "ms/img b1",
    "throughput_ips_b8": "img/s b8",
    "ov_latency_ms_b1": "OV ms/img b1",
    "ov_throughput_ips_b8": "OV img/s b8",
    "int8_latency_ms_b1": "INT8 ms/img b1",
    "int8_throughput_ips_b8": "INT8 img/s b8",
    "floor_ms_b1": "teacher ms b1",
    PRECISION: "OV precision",
    "peak_rss_mb": "peak RSS MiB",
    "params_m": "params M",
}


def frame(rows: list[dict[str, Any]]) -> Any:
    """Rows plus one ``category="mean"`` row per model and seed (NaN-aware mean over categories).

    Peak RSS is the process's peak (a max, not a mean); size is per model anyway.
    """
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = float("nan")
    if "note" not in df:
        df["note"] = ""
    df["note"] = df["note"].fillna("")
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").fillna(0).astype(int)
    raw = [c for c in df if str(c).startswith("raw_")]  # the unclamped re-scoring (bench worker), averaged too
    numeric = [c for c in (*METRICS, *SPEED, *SIZE, *DEPLOYED, *raw) if c in df]
    df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce")
    means = []
    for (model, seed), group in df.groupby(["model", "seed"], sort=False):
        first = group.iloc[0].to_dict()
        mean = {**first, **group[numeric].mean(numeric_only=True).to_dict(), "category": "mean"}
        mean["peak_rss_mb"] = group["peak_rss_mb"].max()
        mean["model"], mean["seed"] = model, seed
        means.append(mean)
    extra = [c for c in df.columns if c not in COLUMNS and c != "note"]
    return pd.concat([df, pd.DataFrame(means)], ignore_index=True)[[*COLUMNS, *extra, "note"]]


def write_csv(df: Any, path: Path) -> Path:
    """The full table, every column, every row."""
    df.to_csv(path, index=False, float_format="%.6g")
    return path


def _cell(row: Any, col: str, std: Any = None) -> str:
    value = row[col]
    if (col in METRICS or col in DEPLOYED) and NEEDS_WEIGHTS in str(row["note"]):
        return NEEDS_WEIGHTS
    if value != value or value is None:  # NaN
        return "–"
    if isinstance(value, str):
        return value
    if col in METRICS or col in DEPLOYED:
        spread = std[col] if std is not None else float("nan")
        return f"{value:.3f}" + (f" ± {spread:.3f}" if spread == spread else "")
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _over_seeds(rows: Any) -> tuple[Any, Any]:
    """Mean and sample std (NaN for one seed) over seeds of per-seed rows; strings from the first row."""
    numeric = rows.select_dtypes("number")
    mean = rows.iloc[0].copy()
    for col in numeric.columns:
        mean[col] = numeric[col].mean()
    if "peak_rss_mb" in rows:
        mean["peak_rss_mb"] = rows["peak_rss_mb"].max()
    std = numeric.std(ddof=1) if len(rows) > 1 else numeric.iloc[0] * float("nan")
    return mean, std


def markdown(df: Any, baseline: str | None = "Patchcore") -> str:
    """Per-model means over categories (mean ± std over seeds, with speed and memory ratios against ``baseline`` of
    the same run), then per category: pixel AP / PRO / pixel AUROC / image AUROC, mean ± std over seeds."""
    means = df[df["category"] == "mean"]
    shown = (*METRICS, *SPEED, PRECISION, "peak_rss_mb", "params_m")
    cols = [c for c in shown if means[c].notna().any() or c in METRICS]
    summary = {model: _over_seeds(group) for model, group in means.groupby("model", sort=False)}
    base = summary.get(baseline)
    ratio_cols = [("fit_s", "fit"), ("latency_ms_b1", "latency"), ("peak_rss_mb", "RSS")]
    seeds = sorted(set(df["seed"]))
    floor = means["floor_ms_b1"].notna().any()  # the model's own teacher, timed in the same process
    head = ["model", "backbone", *[LABELS.get(c, c) for c in cols], *(["latency ×teacher"] if floor else [])]
    if base is not None:
        head += [f"{label} ×{baseline}" for _, label in ratio_cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, (row, std) in summary.items():
        cells = [str(model), str(row["backbone"]), *[_cell(row, c, std) for c in cols]]
        if floor:
            cells.append(f"{row['latency_ms_b1'] / row['floor_ms_b1']:.2f}")
        if base is not None:
            cells += [f"{row[c] / base[0][c]:.2f}" for c, _ in ratio_cols]
        lines.append("| " + " | ".join(cells) + " |")
    if means["int8_pixel_AUPR"].notna().any():
        lines += ["", "Exported graphs on the test sets (OpenVINO, f32 for float layers), mean over categories:", ""]
        lines += [
            "| model | "
            + " | ".join(f"{kind} {SHORT_LABELS[m]}" for m in CELL for kind in ("FP32", "INT8"))
            + " | INT8 speed-up b1 |",
            "|" + "---|" * 8,
        ]
        for model, (row, std) in summary.items():
            pairs = [_cell(row, f"{kind}_{m}", std) for m in CELL for kind in ("ov", "int8")]
            speedup = row["ov_latency_ms_b1"] / row["int8_latency_ms_b1"]
            lines.append(f"| {model} | " + " | ".join(pairs) + f" | {speedup:.2f} |")
    per_cat = df[df["category"] != "mean"]
    cats = list(dict.fromkeys(per_cat["category"]))
    spread = " (mean ± std over seeds " + ", ".join(map(str, seeds)) + ")" if len(seeds) > 1 else ""
    lines += ["", f"Per category, {cell_label(PER_CATEGORY)}{spread}:", ""]
    lines += ["| model | " + " | ".join(cats) + " |", "|" + "---|" * (len(cats) + 1)]
    for model, group in per_cat.groupby("model", sort=False):
        cells = []
        for cat in cats:
            runs = group[group["category"] == cat]
            if runs.empty:
                cells.append("–")
                continue
            row, std = _over_seeds(runs)
            if NEEDS_WEIGHTS in str(row["note"]):
                cells.append(NEEDS_WEIGHTS)
            else:
                cells.append(" / ".join(_cell(row, m, std) for m in PER_CATEGORY))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    raw = [f"raw_{m}" for m in PER_CATEGORY]
    if set(raw) <= set(means.columns) and means[raw].notna().any().any():
        lines += ["", *clamped_vs_raw(summary)]
    return "\n".join(lines) + "\n"


def clamped_vs_raw(summary: dict[str, tuple[Any, Any]]) -> list[str]:
    """Rows of the post-processed → raw table: each ranking metric on anomalib's normalised, clamped maps and on the
    model's raw maps (``raw_*``), means over categories and seeds, with the difference."""
    lines = [
        "Post-processed (normalised, clamped to [0, 1]) → raw maps, means over categories and seeds:",
        "",
        "| model | " + " | ".join(LABELS.get(m, m) for m in PER_CATEGORY) + " |",
        "|" + "---|" * (len(PER_CATEGORY) + 1),
    ]
    for model, (row, _) in summary.items():
        cells = [f"{row[m]:.3f} → {row[f'raw_{m}']:.3f} ({row[f'raw_{m}'] - row[m]:+.3f})" for m in PER_CATEGORY]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def plots(df: Any, out: Path) -> list[Path]:
    """quality_vs_latency.png (pixel AP and PRO against ms/image) and per_category.png (grouped bars, 4 metrics).

    Error bars are the std over seeds; labels are offset per model so they never sit on each other.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    means = df[(df["category"] == "mean") & df["pixel_AUROC"].notna()]
    models = list(dict.fromkeys(means["model"]))
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(axes, CELL[:2], strict=True):
        for j, model in enumerate(models):
            row, std = _over_seeds(means[means["model"] == model])
            err = std[metric] if std[metric] == std[metric] else 0.0
            ax.errorbar(row["latency_ms_b1"], row[metric], yerr=err, fmt="o", color=colours[model], capsize=3)
            ax.annotate(
                model,
                (row["latency_ms_b1"], row[metric]),
                xytext=(6, 10 - 12 * j),
                textcoords="offset points",
                fontsize=8,
                color=colours[model],
            )
        ax.set_xscale("log")
        ax.set_xlabel("torch eager latency, ms/image at batch 1 (log)")
        ax.set_ylabel(LABELS[metric])
        ax.set_title(f"{LABELS[metric]} against latency (mean over categories)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    scatter = out / "quality_vs_latency.png"
    fig.savefig(scatter, dpi=120)
    plt.close(fig)

    per_cat = df[(df["category"] != "mean") & df["pixel_AUROC"].notna()]
    cats = list(dict.fromkeys(per_cat["category"]))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4), sharey=True)
    width = 0.8 / max(1, len(models))
    for ax, metric in zip(axes, PER_CATEGORY, strict=True):
        for j, model in enumerate(models):
            sub = per_cat[per_cat["model"] == model].groupby("category")[metric]
            values = [sub.mean().get(c, np.nan) for c in cats]
            errors = [sub.std().get(c, np.nan) for c in cats]
            ax.bar(np.arange(len(cats)) + j * width, values, width, yerr=errors, label=model, color=colours[model])
        ax.set_xticks(np.arange(len(cats)) + width * (len(models) - 1) / 2, cats)
        ax.set_title(LABELS[metric])
        ax.set_ylim(0.0, 1.0)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    bars = out / "per_category.png"
    fig.savefig(bars, dpi=120)
    plt.close(fig)
    return [scatter, bars]


def galleries(maps_dir: Path, out: Path, categories: list[str], models: list[str]) -> list[Path]:
    """gallery_CATEGORY.png: the same test images, their ground truth and each model's map, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    for category in categories:
        saved = {m: maps_dir / f"{m}__{category}.npz" for m in models}
        saved = {m: np.load(p) for m, p in saved.items() if p.exists()}
        if not saved:
            continue
        first = next(iter(saved.values()))
        n, cols = len(first["names"]), 2 + len(saved)
        fig, axes = plt.subplots(n, cols, figsize=(2 * cols, 2 * n), squeeze=False)
        for i in range(n):
            panels = [("image", first["images"][i].transpose(1, 2, 0), None)]
            panels += [("ground truth", first["masks"][i], "gray")]
            panels += [(m, data["maps"][i].astype(np.float32), "jet") for m, data in saved.items()]
            for ax, (title, picture, cmap) in zip(axes[i], panels, strict=True):
                ax.imshow(picture, cmap=cmap, vmin=0, vmax=1 if cmap else None)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title, fontsize=9)
            axes[i][0].set_ylabel(str(first["names"][i]).split("/")[0], fontsize=8)
        fig.suptitle(f"{category}: test images, ground truth and anomaly maps (post-processed, 0-1)", fontsize=10)
        written.append(save_figure(fig, out / f"gallery_{category}.png", dpi=100))
    return written


def save_figure(fig: Any, path: Path, dpi: int) -> Path:
    """Lay out, write and close a matplotlib figure; return its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
