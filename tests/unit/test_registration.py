"""Entry-point registration through the lazy .pth hook (ARCHITECTURE decision 2), each in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest


def run_py(
    python: str, code: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter of this environment."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [python, *args, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env, timeout=300
    )


def test_interpreter_start_imports_neither_torch_nor_anomalib(python: str) -> None:
    proc = run_py(python, "pass", args=("-X", "importtime"))
    assert proc.returncode == 0, proc.stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "anomalib_kd_plugins._autoload" in modules  # the hook is installed...
    assert not {m for m in modules if m.split(".")[0] in {"torch", "anomalib", "lightning", "timm"}}  # ...lazily


def test_stock_resolution_paths(python: str) -> None:
    proc = run_py(
        python,
        """
        import anomalib.models as models
        from anomalib.models import get_model, list_models
        import anomalib_kd_plugins
        assert models.Adps is anomalib_kd_plugins.Adps, "anomalib.models.Adps not published"
        by_name = get_model("adps", backbone="resnet18", pre_trained=False)
        tiny = {"backbone": "resnet18", "pre_trained": False}
        by_dict = get_model({"class_path": "Adps", "init_args": tiny})
        by_full = get_model({"class_path": "anomalib.models.Adps", "init_args": tiny})
        assert type(by_name).__name__ == type(by_dict).__name__ == type(by_full).__name__ == "Adps"
        assert "Adps" in list_models(case="pascal")
        print("OK")
        """,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_importing_the_plugin_first_still_publishes(python: str) -> None:
    # `from anomalib_kd_plugins import Adps` imports anomalib.models from inside our own module (an import cycle)
    proc = run_py(
        python,
        """
        import warnings
        warnings.simplefilter("error", RuntimeWarning)
        from anomalib_kd_plugins import Adps
        import anomalib.models as models
        assert models.Adps is Adps
        print("OK")
        """,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_env_var_switches_registration_off(python: str) -> None:
    code = (
        "import sys, anomalib.models as m; "
        "print(hasattr(m, 'Adps'), any('_autoload' in type(f).__module__ for f in sys.meta_path))"
    )
    proc = run_py(python, code, env={"ANOMALIB_KD_PLUGINS_AUTOLOAD": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
    # the explicit full class path keeps working without the hook
    proc = run_py(
        python, "import anomalib_kd_plugins as p; print(p.Adps.__name__)", env={"ANOMALIB_KD_PLUGINS_AUTOLOAD": "0"}
    )
    assert proc.stdout.strip() == "Adps", proc.stderr


def test_broken_third_party_plugin_only_warns(python: str, tmp_path: Path) -> None:
    dist = tmp_path / "brokenplug-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.0.1\n")
    (dist / "entry_points.txt").write_text("[anomalib.models]\nBroken = brokenplug:Broken\n")
    (tmp_path / "brokenplug.py").write_text("raise ImportError('brokenplug is broken on purpose')\n")
    proc = run_py(
        python,
        "import anomalib.models as m; print('Adps' if hasattr(m, 'Adps') else 'missing', hasattr(m, 'Broken'))",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["Adps", "False"]
    assert "brokenplug is broken on purpose" in proc.stderr and "Broken" in proc.stderr


@pytest.mark.parametrize("flag", ["-S", "-I"])
def test_isolated_interpreters_still_start(python: str, flag: str) -> None:
    # -S skips site (no .pth, so no hook); -I ignores user env; both must simply work
    proc = run_py(python, "import sys; print('ok')", args=(flag,))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
