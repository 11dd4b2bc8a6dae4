"""``benchmarks/ablations.py``: every variant is a model its CPU recipe can build, before hours of fits start."""

from __future__ import annotations

import pytest
from helpers import benchmark_module

import anomalib_kd_plugins
from anomalib_kd_plugins.metrics import QUALITY
from anomalib_kd_plugins.recipes import BUDGET_KEYS, recipe

ABLATIONS = benchmark_module("ablations")


@pytest.mark.parametrize("variant", ABLATIONS.VARIANTS, ids=lambda v: v[0])
def test_every_variant_builds_on_its_cpu_recipe(variant: tuple) -> None:
    name, model, changes, _ = variant
    settings = ABLATIONS.variant_settings(model, changes)
    spec = recipe(model, "cpu")
    for key, value in settings.items():
        spec = spec.with_setting(key, value)
    assert spec.budget.epochs, name
    args = {k: v for k, v in spec.constructor_args().items() if k not in BUDGET_KEYS}
    cls = getattr(anomalib_kd_plugins, model)
    cls(**args, pre_trained=False)  # the recipe's own lite0, unpretrained: no weights needed; raises if refused


def test_a_variant_without_distillation_drops_the_warm_up_and_the_kd_map() -> None:
    cpu = recipe("Adps", "cpu")
    warmup = cpu.init_args["student_warmup_epochs"]
    for psm_input in ("teacher_only", "student_only"):
        settings = ABLATIONS.variant_settings("Adps", {"psm_input": psm_input})
        assert settings["map_fusion"] == "seg" and settings["student_warmup_epochs"] == 0
        assert settings["student_warmup_lr"] is None and settings["max_epochs"] == cpu.budget.epochs - warmup
        assert settings["student_lr_schedule"] == "constant"
    assert ABLATIONS.variant_settings("Adps", {"k": 1}) == {"k": 1}  # a fused variant keeps the recipe as it is


def _rows(means: dict[str, list[float]]) -> list[dict[str, object]]:
    """Category-mean rows of the report's shape: one per variant and seed, pixel AP as given, the rest 0.5."""
    from anomalib_kd_plugins.metrics import QUALITY

    model = {name: m for name, m, _, _ in ABLATIONS.VARIANTS}
    return [
        {"variant": v, "model": model[v], "seed": s, "category": "mean", "fit_s": 1.0}
        | {m: 0.5 for m in QUALITY}
        | {"pixel_AUPR": ap}
        for v, aps in means.items()
        for s, ap in enumerate(aps)
    ]


def _claim_line(report: str, claim: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| {claim} |"))


def test_a_claim_with_pairs_not_run_is_decided_by_a_failing_pair_and_otherwise_incomplete() -> None:
    claim = "k = 1 (symmetric) is worst: every asymmetric k beats it"
    k1 = [0.45, 0.46, 0.44]
    failing = ABLATIONS.report(_rows({"adps_k1": k1, "adps_k2": [0.39, 0.40, 0.38], "adps_k4": [0.36]}))
    line = _claim_line(failing, claim)
    assert "**not reproduced**" in line and "not run: `adps_k8` − `adps_k1`" in line
    holding = ABLATIONS.report(_rows({"adps_k1": k1, "adps_k2": [0.55, 0.56, 0.54], "adps_k4": [0.60]}))
    assert "**incomplete (2 of 3 pairs run; those: reproduced)**" in _claim_line(holding, claim)
    complete = ABLATIONS.report(
        _rows({"adps_k1": k1, "adps_k2": [0.55, 0.56, 0.54], "adps_k4": [0.6], "adps_k8": [0.6]})
    )
    assert _claim_line(complete, claim).endswith("| **reproduced** |")
    # a claim none of whose variants ran is left out
    assert "the smallest patches fall back" not in failing


def test_a_retest_s_rows_read_as_a_bench_run_with_its_category_mean(tmp_path) -> None:
    # retest.py writes the bench's shape, so the ablation report can take a re-tested run as its base
    retest = benchmark_module("retest")
    cells = {"brick": 0.5, "grass": 0.2, "gravel": 0.7, "coins": 0.6}
    rows = [
        {"suite": "demo", "model": "Adps", "category": c, "seed": 0, **dict.fromkeys(QUALITY, 0.8), "pixel_AUPR": ap}
        for c, ap in cells.items()
    ]
    retest.write_bench(rows, tmp_path / "runs" / "adps_seed0" / "bench.csv")
    collected = ABLATIONS.collect(tmp_path)
    means = [r for r in collected if r["category"] == "mean"]
    assert len(collected) == 5 and len(means) == 1
    assert means[0]["pixel_AUPR"] == pytest.approx(0.5) and means[0]["variant"] == "adps"


def test_a_retest_describes_its_run_by_the_table_recipe_and_what_differs_from_it(tmp_path) -> None:
    # a run made before the recipe changed: its spec's why is stale, its settings differ from the table's in two
    import json

    retest = benchmark_module("retest")
    cpu = recipe("Dmdd", "cpu")
    run = tmp_path / "run"
    run.mkdir()
    stale = cpu.with_args(student_phase_steps=24, student_phase_fraction=0.2).replace(why="the run's own why")
    (run / "spec_Dmdd.json").write_text(json.dumps({"model": "Dmdd", "recipe": stale.to_dict()}))

    def written() -> dict:
        return json.loads((tmp_path / "spec_Dmdd.json").read_text())["recipe"]

    retest.write_specs([run], {"Dmdd": {"sigma": cpu.init_args["sigma"]}}, tmp_path)
    assert written()["why"].startswith(cpu.why) and "the run's own why" not in written()["why"]
    assert "student_phase_fraction=0.2 (recipe: 0.1)" in written()["why"]
    assert "student_phase_steps=24 (recipe: None)" in written()["why"]
    assert written()["init_args"]["student_phase_steps"] == 24  # the settings stay the run's
    # at the class default (None) the step count counts as unset; with the table's fraction it is the table's recipe
    retest.write_specs([run], {"Dmdd": {"student_phase_steps": None, "student_phase_fraction": 0.1}}, tmp_path)
    assert written() == cpu.to_dict()
