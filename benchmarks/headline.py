"""The README's headline and peer tables from bench runs: mean ± std over seeds of the category means, per model.

    python benchmarks/headline.py RUN [RUN ...] [--readme README.md] [--marker NAME] [--recipes] [--models M ...]
        [--cost-from RUN ...]

Every ``bench.csv`` of the given ``anomalib-kd bench`` (or ``benchmarks/retest.py``) output folders is read (a RUN
may also be such a CSV file itself, as the copies kept under ``docs/experiments/data/``); a (model, category, seed)
row seen twice keeps the first run's, so the order of RUN decides. Quality cells are mean ±
std over the seeds of each seed's mean over the categories, with each category's pixel AP next to them; fit seconds,
latency and peak RSS are the means over the rows that measured them. ``--readme`` writes the table between the
``<!-- headline -->`` markers (``--marker NAME``: between ``<!-- NAME -->`` ones). ``--recipes`` adds, under the table,
each model's recipe as the run used it (the ``why`` of its ``spec_MODEL.json``, next to the run's CSV): for a peer
that is what its CPU recipe changed from its paper's settings. ``--models`` chooses the rows and their order (default:
every model, in the order the runs list them). ``--cost-from`` takes the cost columns from the named runs only:
fit time, latency and memory compare within one machine, while seeded quality cells from another machine may
stand beside them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from pathlib import Path

from anomalib_kd_plugins import metrics

QUALITY = {m: metrics.LABELS[m] for m in metrics.QUALITY}
NORMALISATION = {"backbone": "the backbone's own normalisation", "imagenet": "ImageNet normalisation"}
COST = {"fit_s": "fit s / category", "latency_ms_b1": "ms / image (b1)", "peak_rss_mb": "peak RSS MiB"}


def read(runs: list[Path]) -> dict[tuple[str, str, int], dict[str, str]]:
    """(model, category, seed) → the bench row, first run first; ``row["run"]`` names the RUN it came from."""
    rows: dict[tuple[str, str, int], dict[str, str]] = {}
    for run in runs:
        for row in csv.DictReader((run if run.suffix == ".csv" else run / "bench.csv").open()):
            if row["category"] in ("mean", "-") or not row.get("pixel_AUPR"):
                continue
            rows.setdefault((row["model"], row["category"], int(float(row["seed"]))), {**row, "run": str(run)})
    return rows


def models_in(rows: dict[tuple[str, str, int], dict[str, str]]) -> list[str]:
    """The models of ``rows``, in the order the runs list them."""
    return list(dict.fromkeys(m for m, _, _ in rows))


def number(row: dict[str, str], key: str) -> float:
    value = row.get(key, "")
    return float(value) if value not in ("", None) else math.nan


def table(
    rows: dict[tuple[str, str, int], dict[str, str]],
    models: list[str] | None = None,
    cost_from: list[Path] | None = None,
) -> str:
    """The markdown table (module docstring): ``models`` in that order (default: all, as read); the cost columns
    from the rows of the ``cost_from`` runs only (default: every row)."""
    found = models_in(rows)
    if models is None:
        models = found
    elif missing := [m for m in models if m not in found]:
        raise SystemExit(f"--models {' '.join(missing)}: not in the runs' rows; they have {', '.join(found)}")
    costing = {str(run) for run in cost_from} if cost_from else None
    categories = list(dict.fromkeys(c for _, c, _ in rows))
    head = ["model", "seeds", *QUALITY.values(), *(f"{c} pixel AP" for c in categories), *COST.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in models:
        seeds = sorted({s for m, _, s in rows if m == model})
        cells = [model, " ".join(map(str, seeds))]
        for key in QUALITY:
            means = [statistics.mean(number(rows[(model, c, s)], key) for c in categories) for s in seeds]
            spread = f" ± {statistics.stdev(means):.3f}" if len(means) > 1 else ""
            cells.append(f"{statistics.mean(means):.3f}{spread}")
        for category in categories:
            cells.append(f"{statistics.mean(number(rows[(model, category, s)], 'pixel_AUPR') for s in seeds):.3f}")
        for key in COST:
            values = [
                v
                for (m, _, _), row in rows.items()
                if m == model and (costing is None or row["run"] in costing) and not math.isnan(v := number(row, key))
            ]
            cells.append(f"{statistics.mean(values):.1f}" if values else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def recipes(runs: list[Path], models: list[str]) -> str:
    """One line per model: its recipe as the run used it (size, batch, budget, normalisation, ``why``), from the first
    run that kept its ``spec_MODEL.json``, and the paper recipe's ``why`` where the recipe table has one."""
    from anomalib_kd_plugins.recipes import RECIPES

    folders = [run.parent if run.suffix == ".csv" else run for run in runs]
    lines = []
    for model in models:
        specs = [spec for folder in folders if (spec := folder / f"spec_{model}.json").exists()]
        if not specs:
            raise SystemExit(f"no spec_{model}.json beside {[str(r) for r in runs]}: keep it with the run's CSV")
        recipe = json.loads(specs[0].read_text())["recipe"]
        epochs, steps = recipe["budget"]["epochs"], recipe["budget"]["steps"]
        budget = "one pass" if epochs == 1 else f"{epochs} epochs" if epochs else f"{steps} steps"
        # recipes.model_kwargs: a model without a backbone keeps its own pre-processing
        has_backbone = recipe["init_args"].get("backbone")
        norm = NORMALISATION[recipe["normalization"]] if has_backbone else "its own pre-processing"
        setting = f"{recipe['image_size']}², batch {recipe['train_batch_size']}, {budget}, {norm}"
        paper = RECIPES.get(recipe["model"], {}).get("paper")
        against = f" Paper recipe: {paper.why}." if paper else ""
        lines.append(f"- **{model}** ({setting}): {recipe['why']}.{against}")
    return "\n".join(lines) + "\n"


def write_between(path: Path, text: str, marker: str = "headline") -> None:
    """Replace what stands between ``<!-- marker -->`` and ``<!-- /marker -->`` in ``path``."""
    content = path.read_text()
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in content or end not in content:
        raise SystemExit(f"{path} has no {start} ... {end} block")
    before, rest = content.split(start, 1)
    path.write_text(before + start + "\n" + text + rest[rest.index(end) :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--marker", default="headline", help="the README block to write: <!-- MARKER -->")
    parser.add_argument("--recipes", action="store_true", help="list each model's recipe under the table")
    parser.add_argument("--models", nargs="+", help="the rows, in this order (default: every model read)")
    parser.add_argument("--cost-from", nargs="+", type=Path, help="take fit s, latency and RSS from these runs only")
    args = parser.parse_args()
    if args.cost_from and (stray := [str(r) for r in args.cost_from if r not in args.runs]):
        raise SystemExit(f"--cost-from {' '.join(stray)}: not among the runs given")
    rows = read(args.runs)
    text = table(rows, args.models, args.cost_from)
    if args.recipes:
        text += "\n" + recipes(args.runs, args.models or models_in(rows))
    print(text)
    if args.readme:
        write_between(args.readme, text, args.marker)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
