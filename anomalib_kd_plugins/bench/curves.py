"""Learning curves of every bench fit: the per-epoch keys the models log (components/mixin.py), as CSV and plot.

Each fit logs to a CSVLogger in its run folder; :func:`save_curves` keeps the training-epoch rows as
``curves/MODEL__CATEGORY__seedN.csv`` and :func:`plot_curves` draws one ``curves_MODEL.png`` per model: the student's
1 − cos on clean training images per level (and branch), and the probe's pixel AP of each map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CURVE_PREFIXES = ("student_distance/", "probe/")


def curve_logger(workdir: Path) -> Any:
    """The CSVLogger a bench fit logs its curves to (``workdir/curves/metrics.csv``)."""
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(workdir), name="curves", version="")


def save_curves(workdir: Path, path: Path) -> Path | None:
    """Copy one fit's per-epoch curve rows (epoch, training losses, curve keys) to ``path``; ``None`` if it logged
    none (a model without curves, such as PatchCore)."""
    import pandas as pd

    source = workdir / "curves" / "metrics.csv"
    if not source.is_file():
        return None
    frame = pd.read_csv(source)
    keys = [c for c in frame.columns if c.startswith(CURVE_PREFIXES)]
    if not keys:
        return None
    losses = [c for c in frame.columns if c == "train_loss" or c.startswith("loss_")]
    rows = frame[frame[keys].notna().any(axis=1)][["epoch", *losses, *keys]]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    return path


def plot_curves(curves_dir: Path, out: Path) -> list[Path]:
    """One ``curves_MODEL.png`` per model found in ``curves_dir``: a line per category (first seed) and key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .report import save_figure

    files = sorted(curves_dir.glob("*__*__seed*.csv"))
    by_model: dict[str, list[Path]] = {}
    for path in files:
        by_model.setdefault(path.stem.split("__")[0], []).append(path)
    written = []
    for model, paths in by_model.items():
        seeds = sorted({p.stem.rsplit("__seed", 1)[1] for p in paths}, key=int)
        paths = [p for p in paths if p.stem.endswith(f"__seed{seeds[0]}")]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        for i, path in enumerate(paths):
            frame, category = pd.read_csv(path), path.stem.split("__")[1]
            colour = plt.cm.tab10(i % 10)
            for ax, prefix in zip(axes, CURVE_PREFIXES, strict=True):
                for j, key in enumerate(c for c in frame.columns if c.startswith(prefix)):
                    label = f"{category} {key.removeprefix(prefix)}"
                    style = ("-", "--", ":", "-.")[j % 4]
                    ax.plot(frame["epoch"] + 1, frame[key], style, color=colour, label=label, lw=1.2)
        axes[0].set_title(f"{model}: student 1 − cos on clean training images")
        axes[1].set_title(f"{model}: pixel AP on the fixed synthetic probe set")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, ncol=2)
        written.append(save_figure(fig, out / f"curves_{model}.png", dpi=110))
    return written


PLATEAU = 0.05  # a curve has reached its plateau when it moved by less than this share over its last quarter
# the losses that train the student (Adps's distillation loss, Dmdd's KD loss): its curve is judged over the epochs
# that logged one, since Dmdd freezes its student after the student phase and a frozen curve is flat, not converged
STUDENT_LOSSES = ("loss_distill", "loss_kd")


def student_epochs(frame: Any) -> Any:
    """The rows of the epochs in which the student trained (every row if the curve logged no student loss)."""
    losses = [c for c in STUDENT_LOSSES if c in frame]
    if not losses:
        return frame
    trained = frame[losses].notna().any(axis=1)
    return frame[trained] if trained.any() else frame


def plateau_table(curves_dir: Path) -> str:
    """Markdown: per fit, the student's final 1 − cos (mean over levels, per branch for Dmdd), its relative change
    over the last quarter of the epochs in which it trained (``plateau`` when under ``PLATEAU``), and the final
    probe pixel APs."""
    import pandas as pd

    rows = []
    for path in sorted(curves_dir.glob("*__*__seed*.csv")):
        frame = pd.read_csv(path)
        model, category, seed = path.stem.split("__")
        trained = student_epochs(frame)
        groups: dict[str, list[str]] = {}
        for key in (c for c in frame.columns if c.startswith("student_distance/")):
            branch = key.removeprefix("student_distance/").rsplit("level", 1)[0].rstrip("_") or "student"
            groups.setdefault(branch, []).append(key)
        cells = []
        for branch, keys in groups.items():
            curve = trained[keys].mean(axis=1).to_numpy()
            back = curve[max(0, len(curve) - 1 - max(1, len(curve) // 4))]
            change = (back - curve[-1]) / max(abs(back), 1e-9)
            verdict = "plateau" if abs(change) < PLATEAU else "still moving"
            moved = f"{'fell' if change > 0 else 'rose'} {abs(change):.0%}"  # change > 0: the distance fell
            span = "" if len(trained) == len(frame) else f" of its {len(trained)} training epochs"
            cells.append(f"{branch} {curve[-1]:.3f} ({moved} over the last quarter{span}, {verdict})")
        aps = [f"{k.removeprefix('probe/pixel_AP_')} {frame[k].iloc[-1]:.3f}" for k in frame if k.startswith("probe/")]
        run = f"| {model} | {category} | {seed.removeprefix('seed')} | {len(frame)} |"
        rows.append(f"{run} {'; '.join(cells)} | {', '.join(aps)} |")
    header = "| model | category | seed | epochs | final 1 − cos on clean training images | final probe pixel AP |\n"
    return header + "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
