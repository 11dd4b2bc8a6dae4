"""Entry-point registration through the lazy .pth hook (ARCHITECTURE decision 2), each in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path


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
    code = """
        import sys, anomalib.models as m
        print(hasattr(m, "Adps"), any("_autoload" in type(f).__module__ for f in sys.meta_path))
        import anomalib_kd_plugins as p  # the explicit full class path keeps working without the hook
        print(p.Adps.__name__)
        """
    proc = run_py(python, code, env={"ANOMALIB_KD_PLUGINS_AUTOLOAD": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "Adps"]


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


def test_python_dash_s_has_no_hook_but_explicit_import_works(python: str) -> None:
    # -S skips site: no .pth, so no hook and no site-packages. With site-packages put back by hand, nothing is
    # published until the plugin is imported; then the explicit import registers it like the hook would.
    import anomalib_kd_plugins

    site_packages = str(Path(anomalib_kd_plugins.__file__).resolve().parents[1])
    import sysconfig

    purelib = sysconfig.get_paths()["purelib"]
    code = f"""
        import sys
        assert "anomalib_kd_plugins._autoload" not in sys.modules
        sys.path[:0] = [{purelib!r}, {site_packages!r}]
        import anomalib.models as m
        before = hasattr(m, "Adps")
        from anomalib_kd_plugins import Adps
        from anomalib_kd_plugins.registry import register_all
        register_all()
        print(before, m.Adps is Adps, type(m.get_model("Adps", backbone="resnet18", pre_trained=False)).__name__)
        """
    proc = run_py(python, code, args=("-S",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["False", "True", "Adps"]


def test_python_dash_i_keeps_the_hook_and_the_switch(python: str) -> None:
    # -I ignores PYTHON* variables and the user site, but site-packages (and our .pth) are still processed
    proc = run_py(python, "import anomalib.models as m; print(hasattr(m, 'Adps'))", args=("-I",))
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-3000:]
    # our switch is not a PYTHON* variable, so -I keeps it: no hook is installed (what that means for anomalib.models
    # is checked in test_env_var_switches_registration_off; here a cheap interpreter without anomalib suffices)
    hook = "import sys; print(any('_autoload' in type(f).__module__ for f in sys.meta_path))"
    proc = run_py(python, hook, args=("-I",), env={"ANOMALIB_KD_PLUGINS_AUTOLOAD": "off"})
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-3000:]
    proc = run_py(python, hook, args=("-I",))
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-3000:]


MODULE = "anomalib_kd_plugins.models.adps.lightning_model"


def test_installed_twice_editable_and_regular(python: str, tmp_path: Path) -> None:
    # A regular (wheel-layout) copy in a second site directory beside the editable install: its .pth runs too.
    import importlib.metadata

    import anomalib_kd_plugins

    src = Path(anomalib_kd_plugins.__file__).resolve().parent
    regular = tmp_path / "site"
    shutil.copytree(src, regular / "anomalib_kd_plugins", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(src.parent / "anomalib_kd_plugins_autoload.pth", regular)
    dist = importlib.metadata.distribution("anomalib-kd-plugins")
    info = regular / "anomalib_kd_plugins-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(dist.read_text("METADATA"))
    (info / "entry_points.txt").write_text(dist.read_text("entry_points.txt"))
    code = f"""
        import site, sys, warnings
        warnings.simplefilter("error", RuntimeWarning)
        site.addsitedir({str(regular)!r})  # processes the second .pth
        from anomalib_kd_plugins import _autoload
        hooks = sum(isinstance(f, _autoload._AnomalibModelsFinder) for f in sys.meta_path)
        import anomalib.models as m
        import anomalib_kd_plugins
        from anomalib_kd_plugins.registry import plugin_entry_points, register_all
        names = sorted(ep.name for ep in plugin_entry_points())
        register_all()  # idempotent
        print(hooks, names, m.Adps.__module__, anomalib_kd_plugins.__file__.startswith({str(regular)!r}), sep="|")
        """
    proc = run_py(python, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one hook, each model once (importlib.metadata de-duplicates a distribution by name: first on sys.path wins)
    assert proc.stdout.strip().split("|") == ["1", "['Adps', 'Dmdd']", MODULE, "False"]
