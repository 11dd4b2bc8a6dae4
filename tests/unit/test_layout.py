"""The package's layout holds: components/ is what both models share, each model keeps its own blocks."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "anomalib_kd_plugins"
MODELS = ("adps", "dmdd")


def _defined(path: Path) -> set[str]:
    """Top-level public names a module defines (functions, classes, constants)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return {n for n in names if not n.startswith("_")}


def _imported_from_components(folder: Path) -> set[tuple[str, str]]:
    """(components module, name) pairs that the modules of ``folder`` import."""
    pairs = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anomalib_kd_plugins.components."):
                module = node.module.rsplit(".", 1)[1]
                pairs |= {(module, alias.name) for alias in node.names}
    return pairs


def _names_used_inside_components() -> set[str]:
    """Names that shared code in components/ itself uses (both models reach those through that code)."""
    return {
        node.id
        for path in (PACKAGE / "components").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def test_every_components_symbol_a_model_uses_is_used_by_both() -> None:
    used = {model: _imported_from_components(PACKAGE / "models" / model) for model in MODELS}
    shared = _names_used_inside_components()
    single = []
    for path in sorted((PACKAGE / "components").glob("*.py")):
        for name in sorted(_defined(path) - shared):
            users = [m for m in MODELS if (path.stem, name) in used[m]]
            if len(users) == 1:
                single.append(f"components/{path.name}:{name} (only {users[0]})")
    assert not single, f"move these into their model's folder: {single}"


def test_the_models_import_nothing_from_each_other() -> None:
    for model in MODELS:
        other = next(m for m in MODELS if m != model)
        for path in (PACKAGE / "models" / model).rglob("*.py"):
            assert f"models.{other}" not in path.read_text(), path


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_the_layers_only_import_downwards() -> None:
    # models and components are the product's core; deploy, training, bench, demo and the CLI stand on them
    upper = ("deploy", "training", "bench", "demo", "cli", "recipes")
    for folder in ("components", "models"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for module in _imports(path):
                for name in upper:
                    assert not module.startswith(f"anomalib_kd_plugins.{name}"), f"{path} imports {module}"
    demo = _imports(PACKAGE / "demo.py")
    assert not any(m.startswith("anomalib_kd_plugins.bench") for m in demo), "the demo trains without the bench"
    assert "anomalib_kd_plugins.training" in demo
