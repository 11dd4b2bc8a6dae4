"""The typed recipe table: frozen recipes, one budget, one validation schedule, a round trip through the worker spec."""

from __future__ import annotations

import dataclasses
import json

import pytest

from anomalib_kd_plugins.metrics import METRICS
from anomalib_kd_plugins.recipes import RECIPES, Budget, Recipe, recipe, validation_args


def test_a_recipe_is_frozen_and_changes_make_copies() -> None:
    cpu = recipe("Adps", "cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.image_size = 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        cpu.init_args["k"] = 4  # type: ignore[index]
    changed = cpu.with_args(k=4).with_setting("max_epochs", 5).with_setting("normalization", "backbone")
    assert (changed.init_args["k"], changed.budget, changed.normalization) == (4, Budget(epochs=5), "backbone")
    assert cpu.init_args["k"] == 1 and cpu.budget == Budget(epochs=80) and cpu.normalization == "imagenet"
    assert recipe("Adps", "cpu") is RECIPES["Adps"]["cpu"] and recipe("Adps", "cpu") == cpu
    assert cpu.with_setting("max_steps", 100).trainer == {"max_steps": 100, "max_epochs": -1}


def test_every_recipe_survives_the_worker_spec_json() -> None:
    for kinds in RECIPES.values():
        for spec in kinds.values():
            back = Recipe.from_dict(json.loads(json.dumps(spec.to_dict())))
            assert back == spec, spec.name
            assert back.constructor_args() == spec.constructor_args()
            assert isinstance(back.constructor_args()["layers"], list)  # what jsonargparse and YAML expect


def test_a_budget_is_epochs_or_steps_and_validation_runs_once_at_its_end() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Budget()
    with pytest.raises(ValueError, match="exactly one"):
        Budget(epochs=1, steps=1)
    with pytest.raises(ValueError, match="positive"):
        Budget(epochs=0)
    assert validation_args(recipe("Dmdd", "cpu").trainer) == {"check_val_every_n_epoch": 36}
    assert validation_args(recipe("Dmdd", "paper").trainer) == {
        "check_val_every_n_epoch": None,
        "val_check_interval": 5000,
    }
    # an epoch override on a step recipe (as the tests' trainer overrides do) validates after its last epoch
    assert validation_args({**recipe("Dmdd", "paper").trainer, "max_epochs": 2}) == {"check_val_every_n_epoch": 2}


def test_the_paper_evaluator_computes_exactly_the_metric_vocabulary() -> None:
    from anomalib_kd_plugins.components.evaluator import PaperEvaluator

    assert sorted(metric.name for metric in PaperEvaluator().test_metrics) == sorted(METRICS)


def test_the_plugin_models_come_from_the_entry_points_and_each_has_its_recipes() -> None:
    import anomalib_kd_plugins
    from anomalib_kd_plugins.recipes import PLUGIN_MODELS, model_class
    from anomalib_kd_plugins.registry import plugin_models

    assert PLUGIN_MODELS == plugin_models() == ("Adps", "Dmdd")
    for name in PLUGIN_MODELS:
        assert model_class(name) is getattr(anomalib_kd_plugins, name)
        assert {"paper", "cpu", "tiny"} <= set(RECIPES[name]), name
    assert [m for m in anomalib_kd_plugins.__all__ if m[0].isupper() and m != "PaperEvaluator"] == list(PLUGIN_MODELS)
