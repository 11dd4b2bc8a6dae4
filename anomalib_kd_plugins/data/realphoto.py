"""MVTec-layout anomaly-detection categories made from real photographs shipped inside scikit-image's wheel.

No network and deterministic by seed (ARCHITECTURE decision 7). Train and test images come from disjoint parts of
each photograph (textures: top vs bottom half; coins: different coins). The defect types, scratches, pasted foreign
material and local deformation, differ on purpose from the Perlin-blob synthesis the models train on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import data as skdata
from skimage import filters, measure, segmentation

logger = logging.getLogger(__name__)

TEXTURES = {"brick": skdata.brick, "grass": skdata.grass, "gravel": skdata.gravel}
OBJECTS = ("coins",)
CATEGORIES = (*TEXTURES, *OBJECTS)
DEFAULT_CATEGORIES = ("brick", "grass", "gravel", "coins")
DEFECTS = ("scratch", "contamination", "deformation")


SUITE_SIZE = 256  # the demo suite's one build size: every recipe resizes from it through its pre-processor
FORMAT_VERSION = 2  # 2: coin crops stay inside the photograph (1 reflected its border into edge coins' crops)
MANIFEST = "realphoto.json"


@dataclass(frozen=True)
class BuildConfig:
    """How many images of which size to write per category."""

    image_size: int = SUITE_SIZE
    num_train: int = 60
    num_test_good: int = 12
    num_test_per_defect: int = 8
    seed: int = 0


# ---------------------------------------------------------------------------------------------------------- sources
def _texture_crops(photo: np.ndarray, n: int, train: bool, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random square crops from the top (train) or bottom (test) half of a texture photo, flipped and lit variably."""
    h, w = photo.shape
    half = photo[: h // 2] if train else photo[h // 2 :]
    crop = min(half.shape[0], 3 * w // 8)
    out = []
    for _ in range(n):
        y = int(rng.integers(0, half.shape[0] - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
        img = half[y : y + crop, x : x + crop].astype(np.float32)
        if rng.random() < 0.5:
            img = img[:, ::-1]
        if rng.random() < 0.5:
            img = img[::-1]
        img = img * rng.uniform(0.95, 1.05) + rng.uniform(-6, 6)  # mild lighting variation
        out.append(cv2.resize(np.clip(img, 0, 255), (size, size), interpolation=cv2.INTER_AREA))
    return out


COIN_HALF = 1.35  # a coin crop's half-width in coin radii
COIN_ANGLE, COIN_SHIFT = 10.0, 0.04  # the crops' largest rotation (degrees) and shift (in half-widths)


def _coin_fits(photo: np.ndarray, cy: int, cx: int, r: int) -> bool:
    """Whether every crop of this coin (any rotation and shift ``_coin_crops`` draws) lies inside the photograph."""
    half = int(r * COIN_HALF)
    reach = half * (1 + COIN_SHIFT) * (np.cos(np.radians(COIN_ANGLE)) + np.sin(np.radians(COIN_ANGLE)))
    h, w = photo.shape
    return cy - reach >= 0 and cx - reach >= 0 and cy + reach <= h - 1 and cx + reach <= w - 1


def _coin_regions() -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Segment skimage's coins photo (sobel + watershed); return it and (row, col, radius) per coin.

    Only coins whose crops stay inside the photograph are kept: a crop that left it would show padding, and with
    reflected padding fragments of neighbouring coins, at its border (6 of the 24 coins, 5 of them test coins).
    """
    photo = skdata.coins()
    markers = np.zeros_like(photo)
    markers[photo < 30], markers[photo > 150] = 1, 2
    fg = ndi.binary_fill_holes(segmentation.watershed(filters.sobel(photo), markers) == 2)
    regions = [r for r in measure.regionprops(measure.label(fg)) if r.area > 300]
    coins = []
    for r in sorted(regions, key=lambda r: (round(r.centroid[0] / 60), r.centroid[1])):
        cy, cx = r.centroid
        coin = (round(cy), round(cx), int(np.ceil(r.equivalent_diameter_area / 2)))
        if _coin_fits(photo, *coin):
            coins.append(coin)
    return photo, coins


def _coin_crops(
    coins: Sequence[tuple[int, int, int]], photo: np.ndarray, n: int, size: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Centred coin crops (aligned objects) with small shifts/rotations; also each crop's coin foreground mask."""
    images, fgs = [], []
    for i in range(n):
        cy, cx, r = coins[i % len(coins)]
        half = int(r * COIN_HALF)
        angle = rng.uniform(-COIN_ANGLE, COIN_ANGLE)
        shift = rng.uniform(-COIN_SHIFT, COIN_SHIFT, size=2) * half
        centre = (cx + shift[1], cy + shift[0])
        mat = cv2.getRotationMatrix2D(centre, angle, size / (2 * half))
        mat[:, 2] += np.array([size / 2, size / 2]) - np.array(centre)
        # _coin_regions kept only coins whose crops lie inside the photograph: the border mode is never reached
        img = cv2.warpAffine(photo.astype(np.float32), mat, (size, size), flags=cv2.INTER_AREA)
        img = np.clip(img * rng.uniform(0.95, 1.05) + rng.uniform(-5, 5), 0, 255)
        yy, xx = np.mgrid[:size, :size]
        radius_px = r * size / (2 * half)
        fgs.append(((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.85 * radius_px) ** 2)
        images.append(img)
    return images, fgs


# ---------------------------------------------------------------------------------------------------------- defects
def _random_point(fg: np.ndarray | None, size: int, margin: int, rng: np.random.Generator) -> tuple[int, int]:
    """A (row, col) inside the foreground (objects) or away from the border (textures)."""
    if fg is not None:
        ys, xs = np.nonzero(fg)
        i = int(rng.integers(len(ys)))
        return int(ys[i]), int(xs[i])
    return int(rng.integers(margin, size - margin)), int(rng.integers(margin, size - margin))


def scratch(
    img: np.ndarray, fg: np.ndarray | None, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A thin curved line, darker or brighter than the surface."""
    mask = np.zeros((size, size), np.uint8)
    y, x = _random_point(fg, size, size // 5, rng)
    angle, length = rng.uniform(0, np.pi), rng.uniform(0.25, 0.45) * size
    t = np.linspace(-0.5, 0.5, 24)
    bend = rng.uniform(-0.15, 0.15) * length
    px = x + np.cos(angle) * t * length - np.sin(angle) * bend * (1 - 4 * t**2)
    py = y + np.sin(angle) * t * length + np.cos(angle) * bend * (1 - 4 * t**2)
    pts = np.stack([px, py], axis=1).round().astype(np.int32)
    cv2.polylines(mask, [pts], False, 1, thickness=max(2, round(size / 90)), lineType=cv2.LINE_8)
    if fg is not None:
        mask &= fg.astype(np.uint8)
    sign = 1.0 if img[mask > 0].mean() < 110 else -1.0 if mask.any() else 1.0
    out = img.copy()
    out[mask > 0] = np.clip(out[mask > 0] + sign * rng.uniform(70, 110), 0, 255)
    return out, mask


def contamination(
    img: np.ndarray, fg: np.ndarray | None, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """An irregular blob of foreign material cut from another photograph and pasted in."""
    source = skdata.gravel() if rng.random() < 0.5 else skdata.moon()
    r = rng.uniform(0.06, 0.11) * size
    y, x = _random_point(fg, size, int(r) + 4, rng)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = r * rng.uniform(0.6, 1.2, len(angles))
    poly = np.stack([x + radii * np.cos(angles), y + radii * np.sin(angles)], 1).round().astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    sy, sx = (int(rng.integers(0, s - size)) for s in source.shape)
    patch = source[sy : sy + size, sx : sx + size].astype(np.float32)
    patch = patch - patch.mean() + (255 - img[mask > 0].mean() if mask.any() else 128)  # contrasting material
    out = img.copy()
    out[mask > 0] = np.clip(patch[mask > 0], 0, 255)
    return out, mask


def deformation(
    img: np.ndarray, fg: np.ndarray | None, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A local swirl (dent/twist) of the surface; the mask is where pixels moved by more than 1.5 px."""
    s = rng.uniform(0.05, 0.09) * size
    y, x = _random_point(fg, size, int(2 * s) + 2, rng)
    strength = rng.choice([-1, 1]) * rng.uniform(1.6, 2.6)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    dy, dx = yy - y, xx - x
    theta = strength * np.exp(-(dx**2 + dy**2) / (2 * s**2))
    map_x = x + dx * np.cos(theta) - dy * np.sin(theta)
    map_y = y + dx * np.sin(theta) + dy * np.cos(theta)
    out = cv2.remap(
        img.astype(np.float32),
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    moved = np.hypot(map_x - xx, map_y - yy) > 1.5
    mask = (moved & (np.abs(out - img) > 12)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return out, mask


DEFECT_FUNCS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "scratch": scratch,
    "contamination": contamination,
    "deformation": deformation,
}


# ---------------------------------------------------------------------------------------------------------- writing
def _write(path: Path, img: np.ndarray) -> None:
    """Write a grayscale float image as an 8-bit RGB PNG (the models take RGB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    gray = np.clip(img, 0, 255).round().astype(np.uint8)
    if not cv2.imwrite(str(path), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)):
        raise OSError(f"Could not write {path}")


def _write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a {0, 255} single-channel PNG ground-truth mask (MVTec convention)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), (mask > 0).astype(np.uint8) * 255):
        raise OSError(f"Could not write {path}")


def _write_defects(
    root: Path,
    bases: list[np.ndarray],
    fgs: list[np.ndarray | None],
    cfg: BuildConfig,
    rng: np.random.Generator,
) -> None:
    """Apply each defect type to its own held-out base images; retry until the defect is visible (mask ≥ 20 px)."""
    k = 0
    for defect in DEFECTS:
        for i in range(cfg.num_test_per_defect):
            base, fg = bases[k % len(bases)], fgs[k % len(fgs)]
            k += 1
            for _ in range(20):
                img, mask = DEFECT_FUNCS[defect](base, fg, rng, cfg.image_size)
                if mask.sum() >= 20:
                    break
            _write(root / "test" / defect / f"{i:03d}.png", img)
            _write_mask(root / "ground_truth" / defect / f"{i:03d}_mask.png", mask)


def build_category(root: Path, category: str, cfg: BuildConfig) -> Path:
    """Write one MVTec-layout category under ``root/category``; return that folder."""
    if category not in CATEGORIES:
        raise ValueError(f"Unknown category {category!r}; choose from {list(CATEGORIES)}")
    rng = np.random.default_rng([cfg.seed, CATEGORIES.index(category)])
    out = Path(root) / category
    n_defect_bases = cfg.num_test_per_defect * len(DEFECTS)
    if category in TEXTURES:
        photo = TEXTURES[category]()
        train = _texture_crops(photo, cfg.num_train, True, cfg.image_size, rng)
        test = _texture_crops(photo, cfg.num_test_good + n_defect_bases, False, cfg.image_size, rng)
        test_fgs: list[np.ndarray | None] = [None] * len(test)
    else:
        photo, coins = _coin_regions()
        split = (2 * len(coins)) // 3
        train, _ = _coin_crops(coins[:split], photo, cfg.num_train, cfg.image_size, rng)
        test, fgs = _coin_crops(coins[split:], photo, cfg.num_test_good + n_defect_bases, cfg.image_size, rng)
        test_fgs = list(fgs)
    for i, img in enumerate(train):
        _write(out / "train" / "good" / f"{i:03d}.png", img)
    for i, img in enumerate(test[: cfg.num_test_good]):
        _write(out / "test" / "good" / f"{i:03d}.png", img)
    _write_defects(out, test[cfg.num_test_good :], test_fgs[cfg.num_test_good :], cfg, rng)
    return out


def manifest(cfg: BuildConfig) -> dict[str, int]:
    """What a build's pixels depend on: recorded in ``root/realphoto.json`` so that a suite is one build."""
    return {"format": FORMAT_VERSION, **asdict(cfg)}


def read_manifest(root: str | Path) -> dict[str, int] | None:
    """The manifest of a built folder, or ``None`` when it has none (built before manifests, or not by us)."""
    path = Path(root) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def check_suite(root: str | Path, cfg: BuildConfig | None = None) -> None:
    """Refuse a folder built differently from ``cfg`` (the suite's settings), naming the difference and the fix.

    The figures of a suite depend on the pixels and masks it was built with: the same command on a folder built at
    another size, or by an older version, would give other numbers with no word said.
    """
    want, have = manifest(cfg or BuildConfig()), read_manifest(root)
    if have == want:
        return
    if have is None:
        problem = f"has no {MANIFEST}: it was built by an older version or by something else"
    else:
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        problem = "was built with " + ", ".join(f"{k}={a} (the suite uses {b})" for k, (a, b) in diff.items())
    raise SystemExit(
        f"The demo data in {root} {problem}. Rebuild it: `rm -r {root} && anomalib-kd data build {root}` (or drop "
        "--root and let the bench build it); every recipe resizes the one build through its pre-processor."
    )


def build(
    root: str | Path,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    cfg: BuildConfig | None = None,
) -> Path:
    """Write the categories under ``root`` (MVTec AD layout, loadable with ``anomalib.data.MVTecAD(root=root)``).

    ``root/realphoto.json`` records the build settings (``check_suite`` compares them); a folder already built with
    other settings is refused instead of being mixed.
    """
    cfg = cfg or BuildConfig()
    root = Path(root)
    if read_manifest(root) not in (None, manifest(cfg)):
        check_suite(root, cfg)
    for category in categories:
        build_category(root, category, cfg)
        logger.info("wrote %s", root / category)
    (root / MANIFEST).write_text(json.dumps(manifest(cfg), indent=1) + "\n")
    return root
