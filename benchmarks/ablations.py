"""Does it behave like the paper? The papers' ablations, re-run on the demo suite at the CPU recipes.

Each variant is the CPU recipe of its model with one option changed (``docs/adps.md`` and ``docs/dmdd.md`` list
them); each is trained and tested by ``anomalib-kd bench`` on every demo category, once per seed, with the same
data for all. Writes to ``--out``:

* ``ablations.csv``: one row per variant, seed and category (and the category mean), every metric;
* ``ablations.md``: mean ± std over seeds of the category means, per variant, then each claim with its verdict;
* ``ablations.png``: pixel AP, PRO and image AUROC per variant, with the seed spread as error bars.

    python benchmarks/ablations.py --out ablations --seeds 0 1 2

A finished (variant, seed) run is reused when the command is run again with the same ``--out``, so an interrupted
run resumes, and ``--variants`` re-runs a subset. Verdicts follow one rule, stated in the report: a claim "A beats B"
is *reproduced* when A's mean exceeds B's by more than twice the larger of their seed stds, *not reproduced* when B's
mean exceeds A's by that much, and *inconclusive (within seed spread)* otherwise. With one seed the spread is
unknown and every verdict is inconclusive unless the difference exceeds 0.05. A claim of several pairs, some of whose
variants have not run (a ``--variants`` subset), is shown with the pairs that have: a failing pair decides it, and
otherwise it is *incomplete*.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

from anomalib_kd_plugins.metrics import CELL, LABELS
from anomalib_kd_plugins.metrics import QUALITY as METRICS


def variant_settings(model: str, changes: dict[str, object]) -> dict[str, object]:
    """A variant's settings on top of today's CPU recipe.

    A variant without the student's distillation (W/O S: no student; W/O T: no teacher, so no L_d) cannot take the
    recipe's distillation-only warm-up: it trains the same epochs after it, so the PSM gets the same steps, with no
    warm-up lr or schedule. It has no KD map either, so its map is the PSM's alone (``map_fusion="seg"``, the paper's).
    W/O PW (no PSM) keeps the student's training; its map is the KD map, which ``map_fusion="seg"`` means without a PSM.
    """
    from anomalib_kd_plugins.recipes import recipe

    spec = recipe(model, "cpu")
    if changes.get("psm") is False:  # W/O PW: the map is the KD map itself; the student trains as in the recipe
        return {**changes, "map_fusion": "seg"}
    if changes.get("psm_input", "fused") == "fused":
        return dict(changes)
    settings: dict[str, object] = {**changes, "map_fusion": "seg"}
    if warmup := int(spec.init_args.get("student_warmup_epochs", 0)):
        settings |= {
            "student_warmup_epochs": 0,
            "student_warmup_lr": None,
            "student_lr_schedule": "constant",
            "max_epochs": spec.budget.epochs - warmup,
        }
    return settings


# (variant, model, settings on top of the measured base, what it is); the first of each model is that base
VARIANTS: list[tuple[str, str, dict[str, object], str]] = [
    ("adps", "Adps", {}, "CPU recipe: k = 1 (the symmetric student, measured best at 128²), WMB, PSM"),
    ("adps_k1", "Adps", {"k": 1}, "symmetric: the student sees the whole image (paper k = 1)"),
    ("adps_k2", "Adps", {"k": 2}, "64-px patches (paper k = 4 by patch size)"),
    ("adps_k4", "Adps", {"k": 4}, "32-px patches (paper k = 8 by patch size)"),
    ("adps_k8", "Adps", {"k": 8}, "16-px patches (paper k = 16 by patch size)"),
    ("adps_no_pw", "Adps", {"psm": False}, "W/O PW: no WMB, no PSM; map = 1 − cos(T, S)"),
    ("adps_no_s", "Adps", {"psm_input": "teacher_only"}, "W/O S: frozen teacher + PSM"),
    ("adps_no_t", "Adps", {"psm_input": "student_only"}, "W/O T: student + PSM"),
    ("adps_difference", "Adps", {"fusion": "difference"}, "fusion T − S instead of WMB"),
    ("adps_concat", "Adps", {"fusion": "concat"}, "fusion 3×3 conv over [T, S] instead of WMB"),
    ("adps_stage1", "Adps", {"k": 2, "asym_stage": 1}, "k = 2, the input of stage 1 is split, not the image"),
    ("adps_stage2", "Adps", {"k": 2, "asym_stage": 2}, "k = 2, the input of stage 2 is split: stage 1 symmetric"),
    ("dmdd", "Dmdd", {}, "CPU recipe: decoupled student, NGM + AIM"),
    ("dmdd_plain", "Dmdd", {"decouple": False}, "plain student: one feature map for NGM and AIM"),
    ("dmdd_plain_ngm", "Dmdd", {"decouple": False, "lambda_aim": 0}, "plain student, NGM only (DeSTSeg's)"),
    ("dmdd_no_ngm", "Dmdd", {"lambda_ngm": 0}, "decoupled, AIM only"),
    ("dmdd_no_aim", "Dmdd", {"lambda_aim": 0}, "decoupled, NGM only"),
]

# (claim, source in the paper, metric, [(better, worse), ...]): every pair must hold for "reproduced"
CLAIMS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "k = 1 (symmetric) is worst: every asymmetric k beats it",
        "ADPS Fig. 6",
        "pixel_AUPR",
        [("adps_k2", "adps_k1"), ("adps_k4", "adps_k1"), ("adps_k8", "adps_k1")],
    ),
    (
        "the smallest patches fall back (paper k = 16 ↔ our k = 8) against the best k",
        "ADPS Fig. 6",
        "pixel_AUPR",
        [("adps_k2", "adps_k8")],
    ),
    (
        "W/O PW (plain KD map) is far below ADPS (≈ −20 points pixel AP)",
        "ADPS Table VIII",
        "pixel_AUPR",
        [("adps", "adps_no_pw")],
    ),
    ("W/O S (teacher + PSM) is worse than ADPS", "ADPS Table VIII", "pixel_AUPR", [("adps", "adps_no_s")]),
    ("W/O T (student + PSM) is worse than ADPS", "ADPS Table VIII", "pixel_AUPR", [("adps", "adps_no_t")]),
    ("W/O S beats W/O T", "ADPS Table VIII", "pixel_AUPR", [("adps_no_s", "adps_no_t")]),
    ("WMB beats T − S difference fusion", "ADPS Fig. 8", "pixel_AUPR", [("adps", "adps_difference")]),
    ("T − S difference beats concat + 3×3 conv", "ADPS Fig. 8", "pixel_AUPR", [("adps_difference", "adps_concat")]),
    (
        "splitting at stage 2 is worse than splitting the image",
        "ADPS Table V",
        "pixel_AUPR",
        [("adps_k2", "adps_stage2")],
    ),
    (
        "decoupling helps: the decoupled student beats a plain one on the same pairs",
        "DMDD abstract",
        "pixel_AUPR",
        [("dmdd", "dmdd_plain")],
    ),
    (
        "decoupled dual modeling beats DeSTSeg's plain denoising student",
        "DMDD abstract",
        "pixel_AUPR",
        [("dmdd", "dmdd_plain_ngm")],
    ),
    ("NGM contributes: removing it hurts", "DMDD Fig. 2", "pixel_AUPR", [("dmdd", "dmdd_no_ngm")]),
    ("AIM contributes: removing it hurts", "DMDD Fig. 2", "pixel_AUPR", [("dmdd", "dmdd_no_aim")]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="ablations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", help="default: all of them")
    parser.add_argument("--categories", nargs="+", help="default: every demo category")
    parser.add_argument("--root", help="the demo suite to use (default: OUT/data, built when missing)")
    parser.add_argument("--report-only", action="store_true", help="write the report from the runs already done")
    parser.add_argument("--readme", help="also put the report into this file between <!-- ablations --> markers")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    chosen = [v for v in VARIANTS if not args.variants or v[0] in args.variants]
    if not args.report_only:
        from anomalib_kd_plugins.bench import BenchConfig
        from anomalib_kd_plugins.bench import run as run_bench

        for seed in args.seeds:  # seed-major: every variant has seed 0 before any has seed 1
            for name, model, changes, _ in chosen:
                settings = variant_settings(model, changes)
                run = out / "runs" / f"{name}_seed{seed}"
                if (run / "bench.csv").exists():
                    continue
                config = BenchConfig(
                    models=(model,),
                    seeds=(seed,),
                    out=str(run),
                    root=args.root or str(out / "data"),
                    categories=args.categories,
                    settings={model: settings},
                    repeats=1,
                    quiet=True,
                )
                if run_bench(config) != 0:
                    raise SystemExit(f"bench failed for {name} seed {seed}; see {run}")
    rows = collect(out)
    write_csv(rows, out / "ablations.csv")
    (out / "ablations.md").write_text(report(rows))
    plot(rows, out / "ablations.png")
    if args.readme:
        update_readme(Path(args.readme), (out / "ablations.md").read_text())
    print((out / "ablations.md").read_text())
    print(f"wrote {out / 'ablations.csv'}, {out / 'ablations.md'} and {out / 'ablations.png'}")
    return 0


def collect(out: Path) -> list[dict[str, object]]:
    """Every finished run's rows: variant, model, seed, category, metrics, fit seconds."""
    rows = []
    for name, model, _, _ in VARIANTS:
        for path in sorted((out / "runs").glob(f"{name}_seed*/bench.csv")):
            if path.parent.name.rsplit("_seed", 1)[0] != name:
                continue
            with path.open() as f:
                for r in csv.DictReader(f):
                    row: dict[str, object] = {"variant": name, "model": model, "seed": int(r["seed"])}
                    row.update({"category": r["category"], "fit_s": float(r["fit_s"] or "nan")})
                    row.update({m: float(r[m]) for m in METRICS})
                    rows.append(row)
    return rows


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    fields = ["variant", "model", "seed", "category", *METRICS, "fit_s"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def summary(rows: list[dict[str, object]]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """variant → metric → (mean over seeds of the category mean, sample std over seeds (NaN for one), seeds)."""
    result: dict[str, dict[str, tuple[float, float, int]]] = {}
    for name, *_ in VARIANTS:
        means = [r for r in rows if r["variant"] == name and r["category"] == "mean"]
        if not means:
            continue
        result[name] = {}
        for m in METRICS:
            values = [float(r[m]) for r in means]  # type: ignore[arg-type]
            std = statistics.stdev(values) if len(values) > 1 else float("nan")
            result[name][m] = (statistics.fmean(values), std, len(values))
    return result


def verdict(better: tuple[float, float, int], worse: tuple[float, float, int]) -> tuple[str, float]:
    """The report's rule: a difference beyond twice the larger seed std (0.05 with one seed) decides."""
    diff = better[0] - worse[0]
    stds = [s for s in (better[1], worse[1]) if s == s]
    margin = 2 * max(stds) if stds else 0.05
    if diff > margin:
        return "reproduced", diff
    if diff < -margin:
        return "not reproduced", diff
    return "inconclusive (within seed spread)", diff


def report(rows: list[dict[str, object]]) -> str:
    """The variant table and the verdict of every claim whose variants have run."""
    stats = summary(rows)
    categories = list(dict.fromkeys(str(r["category"]) for r in rows if r["category"] != "mean"))
    lines = [
        "Mean over the demo categories, mean ± std over seeds; per category: pixel AP (mean over seeds).",
        "",
        "| variant | what | seeds | " + " | ".join(LABELS[m] for m in METRICS) + " | " + " | ".join(categories) + " |",
        "|---|---|---|" + "---|" * (len(METRICS) + len(categories)),
    ]
    for name, _, _, what in VARIANTS:
        if name not in stats:
            continue
        s = stats[name]
        cells = [f"{s[m][0]:.3f} ± {s[m][1]:.3f}" if s[m][1] == s[m][1] else f"{s[m][0]:.3f}" for m in METRICS]
        per_cat = []
        for c in categories:
            values = [float(r["pixel_AUPR"]) for r in rows if r["variant"] == name and r["category"] == c]  # type: ignore[arg-type]
            per_cat.append(f"{statistics.fmean(values):.3f}" if values else "–")
        lines.append(f"| `{name}` | {what} | {s[METRICS[0]][2]} | " + " | ".join(cells + per_cat) + " |")
    lines += [
        "",
        'Verdict rule: a claim "A beats B" is reproduced when mean(A) − mean(B) exceeds twice the larger of their '
        "seed stds (0.05 when a variant has one seed), not reproduced when it is below minus that, and inconclusive "
        "otherwise. A claim with several pairs takes the weakest pair's verdict; where some of its pairs have not "
        "run, a failing pair still decides it, and otherwise it is incomplete.",
        "",
        "| claim | paper | metric | differences (better − worse) | verdict |",
        "|---|---|---|---|---|",
    ]
    for claim, source, metric, pairs in CLAIMS:
        run = [(a, b) for a, b in pairs if a in stats and b in stats]
        if not run:
            continue
        results = [verdict(stats[a][metric], stats[b][metric]) for a, b in run]
        diffs = ", ".join(f"`{a}` − `{b}` {d:+.3f}" for (a, b), (_, d) in zip(run, results, strict=True))
        missing = [f"`{a}` − `{b}`" for a, b in pairs if (a, b) not in run]
        if missing:
            diffs += "; not run: " + ", ".join(missing)
        lines.append(
            f"| {claim} | {source} | {LABELS[metric]} | {diffs} | **{claim_verdict(results, len(missing))}** |"
        )
    return "\n".join(lines) + "\n"


def claim_verdict(results: list[tuple[str, float]], missing: int) -> str:
    """A claim takes its weakest pair's verdict; one that needs pairs not run is reproduced only when they run.

    Every listed pair must hold for "reproduced", so a pair that fails decides the claim without the rest, while
    pairs that all hold leave it incomplete until the missing ones have run.
    """
    order = ["not reproduced", "inconclusive (within seed spread)", "reproduced"]
    worst = min((v for v, _ in results), key=order.index)
    if missing and worst != "not reproduced":
        return f"incomplete ({len(results)} of {len(results) + missing} pairs run; those: {worst})"
    return worst


def update_readme(path: Path, report_text: str) -> None:
    """Replace the text between ``<!-- ablations -->`` and ``<!-- /ablations -->`` with the report."""
    text = path.read_text()
    start, end = "<!-- ablations -->\n", "<!-- /ablations -->"
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start.strip()} ... {end} block")
    head, rest = text.split(start, 1)
    path.write_text(head + start + report_text + rest[rest.index(end) :])


def plot(rows: list[dict[str, object]], path: Path) -> None:
    """Three panels (pixel AP, PRO, image AUROC): one bar per variant, error bars = seed std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = summary(rows)
    names = [v[0] for v in VARIANTS if v[0] in stats]
    if not names:
        return
    colors = ["tab:blue" if n.startswith("adps") else "tab:orange" for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, metric in zip(axes, CELL, strict=True):
        means = [stats[n][metric][0] for n in names]
        errs = [stats[n][metric][1] if stats[n][metric][1] == stats[n][metric][1] else 0.0 for n in names]
        ax.bar(range(len(names)), means, yerr=errs, color=colors, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{LABELS[metric]} (mean of categories)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
