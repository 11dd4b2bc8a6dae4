"""The README's tables come from ``benchmarks/headline.py``: means over seeds, recipe lines, the README block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import benchmark_module

from anomalib_kd_plugins.bench.report import frame, write_csv
from anomalib_kd_plugins.recipes import recipe

HEADLINE = benchmark_module("headline")


def _run(folder: Path, rows: list[dict], specs: dict[str, object]) -> Path:
    """A bench output folder as the driver writes it: its CSV (with each model's mean rows) and its specs."""
    folder.mkdir(parents=True)
    write_csv(frame(rows), folder / "bench.csv")
    for model, spec in specs.items():
        (folder / f"spec_{model}.json").write_text(json.dumps({"model": model, "recipe": spec.to_dict()}))
    return folder


def _row(model: str, category: str, seed: int, ap: float, fit: float = 10.0) -> dict:
    return {
        "model": model,
        "category": category,
        "seed": seed,
        "pixel_AUPR": ap,
        "pixel_AUPRO": ap,
        "fit_s": fit,
        "image_AUROC": ap,
        "pixel_AUROC": ap,
    }


def test_the_table_is_mean_and_std_over_seeds_of_the_category_means(tmp_path: Path) -> None:
    rows = [
        _row("Stfpm", "brick", 0, 0.2),
        _row("Stfpm", "grass", 0, 0.4),
        _row("Stfpm", "brick", 1, 0.4),
        _row("Stfpm", "grass", 1, 0.6, fit=30.0),
    ]  # the CSV's mean rows (frame) are not a category
    table = HEADLINE.table(HEADLINE.read([_run(tmp_path / "a", rows, {})]))
    stfpm = next(line for line in table.splitlines() if line.startswith("| Stfpm |"))
    cells = [c.strip() for c in stfpm.strip("|").split("|")]
    assert cells[:3] == ["Stfpm", "0 1", "0.400 ± 0.141"]  # seed means 0.3 and 0.5
    assert cells[-5:-3] == ["0.300", "0.500"]  # brick, grass over the seeds
    assert cells[-3:] == ["15.0", "—", "—"]  # fit: the mean of the four rows; latency and RSS not measured


def test_recipe_lines_say_what_each_recipe_changed_and_what_the_paper_used(tmp_path: Path) -> None:
    cpu = recipe("Patchcore", "cpu")
    run = _run(tmp_path / "a", [_row("Patchcore", "brick", 0, 0.5)], {"Patchcore": cpu})
    lines = HEADLINE.recipes([run / "bench.csv"], ["Patchcore"])  # a kept CSV finds the spec beside it
    assert lines.startswith("- **Patchcore** (128², batch 4, one pass, the backbone's own normalisation): ")
    assert cpu.why in lines and recipe("Patchcore", "paper").why in lines
    with pytest.raises(SystemExit, match=r"spec_Stfpm\.json"):
        HEADLINE.recipes([run], ["Stfpm"])


def test_the_readme_block_is_replaced_between_its_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    tail = "after\n<!-- headline -->\nkeep\n<!-- /headline -->\n"
    readme.write_text("intro\n<!-- peers -->\nold\n<!-- /peers -->\n" + tail)
    HEADLINE.write_between(readme, "new\n", "peers")
    assert readme.read_text() == "intro\n<!-- peers -->\nnew\n<!-- /peers -->\n" + tail
    with pytest.raises(SystemExit, match="no <!-- nope -->"):
        HEADLINE.write_between(readme, "x", "nope")


def test_models_order_the_rows_and_costs_come_from_the_named_runs_only(tmp_path: Path) -> None:
    here = _run(tmp_path / "here", [_row("Adps", "brick", 1, 0.5, fit=10.0), _row("Stfpm", "brick", 1, 0.2)], {})
    there = _run(tmp_path / "there", [_row("Adps", "brick", 0, 0.3, fit=50.0)], {})  # another machine's seed 0
    rows = HEADLINE.read([here, there])
    table = HEADLINE.table(rows, ["Adps", "Stfpm"], [here])
    lines = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [line.split("|")[1].strip() for line in lines] == ["Adps", "Stfpm"]
    adps = [c.strip() for c in lines[0].strip("|").split("|")]
    assert adps[1:3] == ["0 1", "0.400 ± 0.141"]  # quality over both runs' seeds
    assert adps[-3] == "10.0"  # fit s from `here` only, not the mean 30.0 with `there`
    assert "| Adps |" not in HEADLINE.table(rows, ["Stfpm"])  # --models also selects
    assert "| 30.0 |" in HEADLINE.table(rows)  # without cost_from: the mean over every run's rows
    with pytest.raises(SystemExit, match="--models Padim: not in the runs' rows"):
        HEADLINE.table(rows, ["Adps", "Padim"])
