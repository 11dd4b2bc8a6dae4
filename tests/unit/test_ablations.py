"""``benchmarks/ablations.py``: every variant is a model its CPU recipe can build, before hours of fits start."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import anomalib_kd_plugins
from anomalib_kd_plugins.recipes import BUDGET_KEYS, recipe

REPO = Path(__file__).resolve().parents[2]


def _ablations():
    spec = importlib.util.spec_from_file_location("ablations", REPO / "benchmarks" / "ablations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ABLATIONS = _ablations()


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
    assert ABLATIONS.variant_settings("Adps", {"k": 1}) == {"k": 1}  # a fused variant keeps the recipe as it is
