"""Benchmark suites (which data) and recipes (which model settings), shared by the driver and its workers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from anomalib_kd_plugins.recipes import PLUGIN_MODELS, RECIPES, Budget, Recipe, paper_backbone
from anomalib_kd_plugins.recipes import recipe as table_recipe

DEFAULT_MODELS = (*PLUGIN_MODELS, "Patchcore", "ReverseDistillation")  # what `anomalib-kd bench` runs by default
SuiteName = Literal["demo", "mvtec", "folder"]
SUITES = get_args(SuiteName)
NEEDS_WEIGHTS = "needs pretrained weights"


def model_spec(label: str) -> tuple[str, int | None]:
    """A ``--models`` entry → (model class name, image size or None): ``Patchcore@256`` → ``("Patchcore", 256)``."""
    name, _, size = label.partition("@")
    if not name or (size and not size.isdigit()):
        raise ValueError(f"model {label!r}: expected a model class name, optionally @SIZE (e.g. Patchcore@256)")
    return name, int(size) if size else None


def recipe(
    model: str,
    kind: str = "cpu",
    paper_backbones: bool = False,
    image_size: int | None = None,
    epochs: int | None = None,
    out: Path | None = None,
) -> Recipe:
    """A model's recipe for the benchmark: ``kind`` "cpu" (fast, lite0) or "paper"; optional overrides.

    ``model`` is a class name, optionally ``@SIZE`` (that image size for this model, over ``image_size``). A model the
    recipe table holds gets its table recipe; any other anomalib image model a CPU recipe derived from its
    constructor (:mod:`.peers`; ``out`` is where it writes inputs such a model needs). ``paper_backbones`` swaps in
    the WRN50 teacher and layers of the model's WRN50 recipe (DMDD's ``paper_b``). ``epochs`` leaves one-pass models
    (PatchCore, PaDiM) at their one pass.
    """
    from .peers import derived_recipe

    if kind not in ("cpu", "paper"):
        raise ValueError(f"recipe must be 'cpu' or 'paper', got {kind!r}")
    name, size = model_spec(model)
    if name in RECIPES and kind in RECIPES[name]:
        spec = table_recipe(name, kind)
    elif kind == "cpu":
        spec = derived_recipe(name, out or Path("bench_output"))
    else:
        raise ValueError(f"{name} has no {kind!r} recipe in the table (recipes.py); the bench derives CPU recipes only")
    if paper_backbones:
        spec = spec.with_args(**paper_backbone(name))
    side = size or image_size
    if side and side != spec.image_size:
        how = model if size else f"--image-size {image_size}"
        spec = spec.replace(image_size=side, why=f"{spec.why}; run at {side}² ({how})")
    if epochs and spec.budget != Budget(epochs=1):  # a one-pass model is one pass over the training set by definition
        spec = spec.with_setting("max_epochs", epochs)
    return spec


def pretrained_available(backbone: str) -> bool:
    """Whether timm can load ImageNet weights for ``backbone`` now (offline: only from the local cache)."""
    import timm

    try:
        timm.create_model(backbone, pretrained=True)
    except Exception:  # any failure to load means "not available here"
        return False
    return True


@dataclass
class Suite:
    """Where the data comes from: ``demo`` (built real-photo categories), ``mvtec`` (MVTec AD root), ``folder``."""

    name: str
    root: str
    categories: list[str]
    folder: dict[str, Any] = field(default_factory=dict)  # Folder's normal_dir / abnormal_dir / mask_dir / ...
    num_workers: int = 0

    def datamodule(self, category: str, train_batch_size: int, eval_batch_size: int = 8) -> Any:
        """The anomalib datamodule of one category (seeded, so every model sees the same split)."""
        common = {
            "train_batch_size": train_batch_size,
            "eval_batch_size": eval_batch_size,
            "num_workers": self.num_workers,
            "seed": 0,
        }
        if self.name == "folder":
            from anomalib.data import Folder

            return Folder(name=category, root=self.root, **self.folder, **common)
        from anomalib_kd_plugins.training import mvtec_datamodule

        return mvtec_datamodule(self.root, category, train_batch_size, eval_batch_size, self.num_workers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for the worker processes."""
        return asdict(self)


def make_suite(
    name: str,
    root: str | None,
    categories: list[str] | None,
    out: Path,
    folder: dict[str, Any] | None = None,
    num_workers: int = 0,
) -> Suite:
    """Resolve a suite: build the demo data if needed, check the user's roots, pick default categories.

    The demo suite is one build (``data.SUITE_SIZE``, the default ``BuildConfig``) whatever the recipes' image sizes:
    each model resizes it through its pre-processor, so a figure does not depend on which models share the run.
    """
    if name == "demo":
        from anomalib_kd_plugins.data import DEFAULT_CATEGORIES, build, check_suite

        cats = categories or list(DEFAULT_CATEGORIES)
        data_root = Path(root) if root else out / "data"
        missing = [c for c in cats if not (data_root / c / "train" / "good").is_dir()]
        if len(missing) < len(cats):  # something is there already: it must be the suite's build
            check_suite(data_root)
        if missing:
            build(data_root, missing)
        return Suite("demo", str(data_root), cats, num_workers=num_workers)
    if not root:
        raise SystemExit(f"--suite {name} needs --root (the dataset folder)")
    if not Path(root).is_dir():
        raise SystemExit(f"--root {root} is not a folder")
    if name == "mvtec":
        from anomalib.data.datasets.image.mvtecad import CATEGORIES

        cats = categories or [c for c in CATEGORIES if (Path(root) / c).is_dir()]
        absent = [c for c in cats if not (Path(root) / c / "train" / "good").is_dir()]
        if not cats or absent:
            msg = f"MVTec AD categories {absent or 'none'} not found under {root} (expect CATEGORY/train/good)"
            raise SystemExit(msg)
        return Suite("mvtec", root, cats, num_workers=num_workers)
    if name == "folder":
        folder = {k: v for k, v in (folder or {}).items() if v is not None}
        if "normal_dir" not in folder:
            raise SystemExit("--suite folder needs --normal-dir (and usually --abnormal-dir, --mask-dir)")
        return Suite("folder", root, categories or [Path(root).name], folder=folder, num_workers=num_workers)
    raise SystemExit(f"Unknown suite {name!r}; choose from {', '.join(SUITES)}")
