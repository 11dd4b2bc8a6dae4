"""pyproject.toml's dependency floors are at least what the installed anomalib itself requires."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11 (the project supports 3.10 too)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


def _anomalib_floors() -> dict[str, Version]:
    """anomalib's floors: its base requirements, and its ``cpu`` extra for torch/torchvision (the ones it tests)."""
    floors: dict[str, Version] = {}
    for text in importlib.metadata.requires("anomalib") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is not None and not marker.evaluate({"extra": "cpu"}):
            continue
        floor = _floor(requirement)
        if floor is not None:
            floors[requirement.name.lower()] = max(floor, floors.get(requirement.name.lower(), floor))
    return floors


@pytest.mark.parametrize("name", ["torch", "torchvision", "lightning"])
def test_dependency_floor_is_at_least_anomalibs(name: str) -> None:
    ours = {
        Requirement(r).name.lower(): Requirement(r)
        for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    }
    theirs = _anomalib_floors()
    assert name in theirs, f"anomalib no longer states a floor for {name}: {sorted(theirs)}"
    if name not in ours:  # not a direct dependency of ours: anomalib's floor applies as it is
        return
    floor = _floor(ours[name])
    assert floor is not None and floor >= theirs[name], f"{name}: ours {ours[name]}, anomalib's >= {theirs[name]}"


def test_the_wheel_ships_the_configs_and_no_repo_only_paths(tmp_path: Path) -> None:
    """A pip user (non-editable install) gets the recipe configs inside the package; `anomalib-kd config` finds them."""
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("hatchling")  # the build backend, from the `test` extra: the build itself stays offline
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=PYPROJECT.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    shipped = ("adps", "adps_cpu", "dmdd", "dmdd_b", "dmdd_cpu", "benchmark/realphoto_cpu", "benchmark/mvtec_paper")
    for config in shipped:
        assert f"anomalib_kd_plugins/configs/{config}.yaml" in names, config
    assert "anomalib_kd_plugins/recipes.py" in names and "anomalib_kd_plugins/models/adps/README.md" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)
