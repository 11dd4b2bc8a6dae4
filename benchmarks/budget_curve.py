"""Quality against training budget: pixel AP, PRO and image AUROC against fit seconds, per model and budget.

Each point is one ``anomalib-kd bench`` run (the same driver, data, evaluator and seeds as the README's tables) of
one model at one budget: a number of epochs for the trained models, an image size for PatchCore (one pass). Writes
``budget_curve.csv``, ``budget_curve.png`` and ``budget_curve.md`` (the README's table: means over seeds) to
``--out``; the CPU recipes are chosen from this curve. ``--report-only`` rewrites the plot and the table from the CSV.

    python benchmarks/budget_curve.py --out budget --grid Adps=10,20 Dmdd=8,16 Patchcore@128 --seeds 0
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from anomalib_kd_plugins.metrics import CELL, LABELS
from anomalib_kd_plugins.metrics import QUALITY as METRICS


def parse_grid(items: list[str]) -> list[tuple[str, str, int]]:
    """``Model=e1,e2`` (epochs) or ``Model@s1,s2`` (image sizes) → [(model, "epochs"|"image-size", value)]."""
    points = []
    for item in items:
        sep = "=" if "=" in item else "@"
        model, values = item.split(sep, 1)
        knob = "epochs" if sep == "=" else "image-size"
        points += [(model, knob, int(v)) for v in values.split(",")]
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", nargs="+", default=["Adps=5,10,20", "Dmdd=4,8,16", "Patchcore@128,256"])
    parser.add_argument("--categories", nargs="+", help="default: every demo category")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="budget_output")
    parser.add_argument("--set", nargs="+", default=[], help="recipe overrides passed to the bench (MODEL.KEY=VALUE)")
    parser.add_argument("--report-only", action="store_true", help="plot and tabulate OUT/budget_curve.csv, no runs")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if args.report_only:
        with (out / "budget_curve.csv").open() as f:
            return report(list(csv.DictReader(f)), out)

    from anomalib_kd_plugins.bench import BenchConfig
    from anomalib_kd_plugins.bench import run as run_bench
    from anomalib_kd_plugins.bench.config import parse_setting

    settings: dict[str, dict[str, object]] = {}
    for setting in args.set:
        model, key, value = parse_setting(setting)
        settings.setdefault(model, {})[key] = value
    rows = []
    for model, knob, value in parse_grid(args.grid):
        run = out / f"{model}_{knob}{value}"
        config = BenchConfig(
            models=(model,),
            seeds=tuple(args.seeds),
            out=str(run),
            root=str(out / "data"),  # one build of the suite for every point (each recipe resizes it)
            categories=args.categories,
            settings={model: settings[model]} if model in settings else {},
            repeats=3,
            quiet=True,
            **{knob.replace("-", "_"): value},
        )
        if run_bench(config) != 0:
            raise SystemExit(f"bench failed for {model} {knob} {value}; see {run}")
        with (run / "bench.csv").open() as f:
            means = [r for r in csv.DictReader(f) if r["category"] == "mean"]
        for r in means:
            rows.append({"model": model, knob.replace("-", "_"): value, "seed": r["seed"], "fit_s": r["fit_s"]})
            rows[-1].update({m: r[m] for m in METRICS})
    fields = ["model", "epochs", "image_size", "seed", "fit_s", *METRICS]
    with (out / "budget_curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in fields} for r in rows)
    return report(rows, out)


def report(rows: list[dict], out: Path) -> int:
    """Write the plot and the markdown table of a curve's rows."""
    plot(rows, out / "budget_curve.png")
    table = markdown(rows)
    (out / "budget_curve.md").write_text(table)
    print(table)
    print(f"wrote {out / 'budget_curve.csv'}, {out / 'budget_curve.png'} and {out / 'budget_curve.md'}")
    return 0


def markdown(rows: list[dict]) -> str:
    """One line per model and budget, in grid order: mean fit seconds per category and mean metrics over seeds."""
    points: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        budget = f"{r['epochs']} epochs" if r.get("epochs") else f"{r['image_size']}², one pass"
        points.setdefault((r["model"], budget), []).append(r)
    lines = [
        "| model | budget | fit s / category | " + " | ".join(LABELS[m] for m in METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for (model, budget), group in points.items():
        cells = [f"{sum(float(r[m]) for r in group) / len(group):.3f}" for m in METRICS]
        fit = sum(float(r["fit_s"]) for r in group) / len(group)
        lines.append(f"| {model} | {budget} | {fit:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Three panels (pixel AP, PRO, image AUROC) against mean fit seconds per category; one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    models = list(dict.fromkeys(r["model"] for r in rows))
    for ax, metric in zip(axes, CELL, strict=True):
        for j, model in enumerate(models):
            pts = sorted(
                (float(r["fit_s"]), float(r[metric]), r.get("epochs") or f"{r['image_size']}²")
                for r in rows
                if r["model"] == model
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=model, color=plt.cm.tab10(j))
            for x, y, label in pts:
                ax.annotate(str(label), (x, y), xytext=(4, 4 - 10 * j), textcoords="offset points", fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("fit seconds per category (log, 2 CPU cores)")
        ax.set_title(LABELS[metric])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
