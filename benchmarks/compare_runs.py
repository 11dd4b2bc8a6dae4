"""One markdown table from several ``anomalib-kd bench`` outputs: per model and run, each category and the mean.

Each cell is pixel AP / PRO / image AUROC (means over seeds when a run has several). Used for the README's quality
experiments, one run per single change:

    python benchmarks/compare_runs.py baseline=bench_base lite0-norm=bench_norm --models Adps Dmdd

A run measured in pieces (seed 0 in one output, seeds 1 and 2 in another) is ``LABEL=OUT_A,OUT_B``: its rows are
pooled before the means. ``--seeds 0`` keeps those seeds' rows only (a seed-0 row against a 3-seed run's seed 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from anomalib_kd_plugins.metrics import CELL


def table(runs: dict[str, list[Path]], models: list[str] | None = None, seeds: list[int] | None = None) -> str:
    """The markdown table; rows are (model, run), columns the categories then the mean over them."""
    import pandas as pd

    frames = []
    for label, outs in runs.items():
        for out in outs:
            df = pd.read_csv(out / "bench.csv")
            frames.append(df[df["category"] != "mean"].assign(run=label))
    df = pd.concat(frames, ignore_index=True)
    if models:
        df = df[df["model"].isin(models)]
    if seeds is not None:
        df = df[df["seed"].isin(seeds)]
    cats = list(dict.fromkeys(df["category"]))
    per = df.groupby(["model", "run", "category"])[list(CELL)].mean().sort_index()  # over seeds
    lines = ["| model | run | " + " | ".join([*cats, "mean"]) + " |", "|" + "---|" * (len(cats) + 3)]
    for model, run in sorted(per.index.droplevel(2).unique(), key=lambda k: (k[0], list(runs).index(k[1]))):
        group = per.loc[(model, run)]
        cells = [" / ".join(f"{group.loc[c, m]:.3f}" for m in CELL) if c in group.index else "–" for c in cats]
        cells.append(" / ".join(f"**{group[m].mean():.3f}**" for m in CELL))
        lines.append(f"| {model} | {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=BENCH_OUT[,BENCH_OUT...]", help="LABEL may not contain '='")
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds' rows (default: all)")
    args = parser.parse_args()
    runs = {label: [Path(p) for p in paths.split(",")] for label, paths in (r.split("=", 1) for r in args.runs)}
    print("Cells: pixel AP / PRO / image AUROC.\n")
    print(table(runs, args.models, args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
