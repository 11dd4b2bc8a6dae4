"""Shared fixtures: offline mode, seeded ImageNet lite0 weights, real-photo datasets."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download; must precede any huggingface_hub import

import sys
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Share the cores between pytest-xdist workers (and the subprocesses they start) instead of oversubscribing.

    Under xdist each worker is also pinned to its own share of the cores: OpenVINO's and ONNX Runtime's thread pools
    (the export tests, NNCF's calibration) size themselves from the cores a process may run on, not from
    ``OMP_NUM_THREADS``, and two workers' pools spinning on the same cores waste them.
    """
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    threads = max(1, (os.cpu_count() or 1) // workers)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if worker.startswith("gw") and workers > 1 and len(cores) >= workers:
        share = cores[int(worker[2:]) % workers :: workers]  # gw0: cores 0, 2, ...; gw1: 1, 3, ...
        os.sched_setaffinity(0, share)  # inherited by the threads and subprocesses the worker starts
        threads = len(share)
    threads = min(2, threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # inherited by the CLI subprocesses
    torch.set_num_threads(threads)
    del config


# The files that take minutes, longest first. pytest-xdist (`--dist loadfile`) hands files to the workers in collection
# order, so starting with these keeps both workers busy to the end instead of one running a long file alone.
LONGEST_FIRST = (
    "quality/test_quality_dmdd.py",
    "quality/test_quality_adps.py",
    "integration/test_cli.py",
    "integration/test_cli_runs.py",
    "integration/test_export.py",
    "integration/test_bench.py",
    "integration/test_scaleout.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest files first (a stable sort: every other file, and each file's tests, keep their order)."""
    del config
    tests = Path(__file__).resolve().parent
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = Path(str(item.fspath)).resolve()
        return rank.get(path.relative_to(tests).as_posix() if path.is_relative_to(tests) else "", len(rank))

    items.sort(key=key)


@pytest.fixture(scope="session")
def seeded_weights() -> Path:
    """ImageNet tf_efficientnet_lite0 weights in the local HF cache (from the `offline` extra, no download)."""
    from anomalib_kd_plugins.weights import seed

    return seed()


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real-photo MVTec-layout dataset (brick, 64-px images) for fast Engine/CLI tests."""
    from anomalib_kd_plugins.data import BuildConfig, build

    root = tmp_path_factory.mktemp("tiny_realphoto")
    return build(root, ["brick"], BuildConfig(image_size=64, num_train=8, num_test_good=4, num_test_per_defect=2))


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-photo brick category as the demo suite builds it (256 px; the CPU recipes resize to 128²)."""
    from anomalib_kd_plugins.data import BuildConfig, build

    root = tmp_path_factory.mktemp("realphoto")
    return build(root, ["brick"], BuildConfig())


@pytest.fixture
def python() -> str:
    """The interpreter running the tests (its environment has the package installed)."""
    return sys.executable
