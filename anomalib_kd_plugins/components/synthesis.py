"""Synthetic anomalies for training_step only, through anomalib's PerlinAnomalyGenerator, from four texture sources.

Every source uses anomalib's Perlin masks, texture augmenters and β blending (DRAEM's recipe); they differ in what
fills the mask:

* ``"perlin"``: anomalib's fill when it has no texture folder, the Perlin noise itself (``noise · 0.5 + 0.25``, the
  same in all three channels), i.e. a smooth grey blob.
* ``"self"``: crops of the training batch's own images, zoomed in, turned by multiples of 90° and flipped (the
  CutPaste / NSA family): foreign structure in the data's own colours and grain.
* ``"procedural"``: textures generated at run time (multi-octave Perlin noise, stripes, checks, Gabor-like stripes,
  smooth colour fields), grey when the training images are grey and coloured otherwise.
* ``"mixed"``: for each anomaly one of the three fills above that need no files (``"perlin"``, ``"self"``,
  ``"procedural"``), drawn with equal odds, so that no single kind of fill (a smooth grey blob, say) is a shortcut
  the models can learn to call "anomalous". No recipe uses it: it lowered both models' mean pixel AP on the demo
  suite (docs/experiments/2026-11-rounds-1-4.md, round 2).
* ``"folder"``: a user's texture folder (DTD, as DRAEM, DeSTSeg and ADPS use): ``anomaly_source_path``.
* ``"matched"``: anomalies that keep the surface's local contrast and grain (:class:`MatchedAnomalyGenerator`), in
  five shapes of the industrial defect families: Perlin blobs, thin curved strokes and small spots filled with a
  texture whose mean and std are matched to the surrounding surface (opaque or blended, then matched again, so a
  blend cannot wash the contrast out), local warps of the surface, and patches of the surface displaced from
  elsewhere. The sources above blend a fill at β ∈ (0.2, 1) behind a hard edge: a washed-out patch (local contrast
  0.56 of its surroundings, median, on brick) that a model can learn as "anomalous" instead of learning the surface
  (docs/experiments/2026-12-01-round5.md, :func:`local_contrast_ratio` measures the cue).

Nothing is downloaded, and none of the sources reads the photographs the demo data is built from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

import torch
from anomalib.data.utils.generators import PerlinAnomalyGenerator
from anomalib.data.utils.generators.perlin import generate_perlin_noise
from torch import nn
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from .options import check_choice


def check_anomaly_source(path: str | None) -> None:
    """Reject a texture folder that is missing or holds no images, naming the fix; ``None`` means Perlin textures."""
    if path is None:
        return
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"anomaly_source_path {str(folder)!r} does not exist. Point it at a folder of texture images "
            "(e.g. DTD's `dtd/images`), or leave it unset (None) to synthesise Perlin-noise textures. "
            "Nothing is ever downloaded."
        )
    if not any(p.suffix.lower() in IMG_EXTENSIONS for p in folder.rglob("*") if p.is_file()):
        raise FileNotFoundError(
            f"anomaly_source_path {str(folder)!r} holds no images ({', '.join(IMG_EXTENSIONS)}). Add texture "
            "images to it, or leave it unset (None) to synthesise Perlin-noise textures."
        )


AnomalySource = Literal["perlin", "self", "procedural", "mixed", "folder", "matched"]
ANOMALY_SOURCES = get_args(AnomalySource)
MatchedShape = Literal["blob", "stroke", "spots", "warp", "displace"]
MATCHED_SHAPES = get_args(MatchedShape)
MIXED_FILLS = ("perlin", "self", "procedural")
PROCEDURAL_KINDS = ("noise", "stripes", "checks", "gabor", "field")


def resolve_anomaly_source(source: AnomalySource | None, path: str | None) -> AnomalySource:
    """The source to use: a folder path implies ``"folder"``; ``None`` means ``"perlin"`` (anomalib's fill)."""
    if source is None:
        return "folder" if path is not None else "perlin"
    check_choice("anomaly_source", source, ANOMALY_SOURCES)
    if source == "folder" and path is None:
        raise ValueError(
            'anomaly_source="folder" needs anomaly_source_path: a folder of texture images (e.g. DTD\'s '
            '`dtd/images`). Or choose "self", "procedural", "mixed" or "perlin", which need no files.'
        )
    if source != "folder" and path is not None:
        raise ValueError(
            f"anomaly_source_path is only read by anomaly_source='folder', not {source!r}: drop one of the two."
        )
    return source


class SelfTextures:
    """Texture crops of the current training batch (CutPaste / NSA family): zoomed in 1.4-4.5×, rot90, flips."""

    def __init__(self) -> None:
        self.pool: torch.Tensor | None = None  # (B, 3, H, W) pixels in [0, 1], set per batch
        self.flips = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])

    def set_batch(self, pixels: torch.Tensor) -> None:
        """Crop from this batch's images (pixels in [0, 1])."""
        self.pool = pixels

    def __call__(self, height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """A (3, height, width) texture in [0, 1] from a random image of the pool."""
        assert self.pool is not None, "SelfTextures.pool is set by AnomalySynthesizer.forward"
        image = self.pool[int(torch.randint(len(self.pool), (1,)))]
        zoom = math.exp(float(torch.empty(1).uniform_(math.log(1.4), math.log(4.5))))
        h, w = max(2, int(height / zoom)), max(2, int(width / zoom))
        top = int(torch.randint(image.shape[-2] - h + 1, (1,)))
        left = int(torch.randint(image.shape[-1] - w + 1, (1,)))
        crop = v2.functional.resize(image[:, top : top + h, left : left + w], [height, width], antialias=True)
        crop = torch.rot90(crop, int(torch.randint(4, (1,))), dims=(-2, -1)) if height == width else crop
        return self.flips(crop).to(device).clamp(0, 1)


class ProceduralTextures:
    """Textures generated at run time, coloured like the data: grey for grey images, two random colours otherwise."""

    def __init__(self) -> None:
        self.grey = True  # set per batch from the images' channels

    def set_batch(self, pixels: torch.Tensor) -> None:
        """Grey textures for a grey batch (pixels in [0, 1]): grey photos stored as RGB have equal channels."""
        self.grey = bool((pixels - pixels.mean(dim=1, keepdim=True)).abs().amax() < 2 / 255)

    def pattern(self, height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """One (height, width) pattern in [0, 1] of a random kind."""
        kind = PROCEDURAL_KINDS[int(torch.randint(len(PROCEDURAL_KINDS), (1,)))]
        y, x = torch.meshgrid(
            torch.linspace(0, 1, height, device=device), torch.linspace(0, 1, width, device=device), indexing="ij"
        )
        theta = float(torch.rand(1)) * math.pi
        along = x * math.cos(theta) + y * math.sin(theta)
        freq = float(torch.empty(1).uniform_(3, 20))
        if kind == "noise":  # multi-octave Perlin noise, each octave twice as fine and half as strong
            octaves = int(torch.randint(2, 5, (1,)))
            base = int(torch.randint(1, 4, (1,)))
            out = sum(
                generate_perlin_noise(height, width, (2 ** (base + o),) * 2, device=device) / 2**o
                for o in range(octaves)
            )
        elif kind == "stripes":
            out = torch.sin(2 * math.pi * freq * along + float(torch.rand(1)) * 6.3)
        elif kind == "checks":
            across = -x * math.sin(theta) + y * math.cos(theta)
            out = torch.sign(torch.sin(2 * math.pi * freq * along) * torch.sin(2 * math.pi * freq * across))
        elif kind == "gabor":  # stripes modulated by a smooth Perlin envelope
            envelope = generate_perlin_noise(height, width, (4, 4), device=device)
            out = torch.sin(2 * math.pi * freq * along) * (envelope + 1)
        else:  # "field": a smooth ramp in a random direction
            out = along
        out = out - out.min()
        return out / out.max().clamp_min(1e-6)

    def __call__(self, height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """A (3, height, width) texture in [0, 1]: the pattern mapped between two random colours (or greys)."""
        t = self.pattern(height, width, device).unsqueeze(0)
        lo, hi = torch.rand(2, 1 if self.grey else 3, 1, 1, device=device)
        return (lo + (hi - lo) * t).expand(3, height, width).clamp(0, 1)


class MixedTextures:
    """Each call one fill of ``MIXED_FILLS`` with equal odds; ``None`` stands for anomalib's own Perlin fill."""

    def __init__(self) -> None:
        self.own = SelfTextures()
        self.procedural = ProceduralTextures()

    def set_batch(self, pixels: torch.Tensor) -> None:
        """Hand the batch to both sources."""
        self.own.set_batch(pixels)
        self.procedural.set_batch(pixels)

    def __call__(self, height: int, width: int, device: torch.device | None) -> torch.Tensor | None:
        """A (3, height, width) texture in [0, 1], or ``None``: keep the generator's Perlin fill."""
        fill = MIXED_FILLS[int(torch.randint(len(MIXED_FILLS), (1,)))]
        if fill == "perlin":
            return None
        return (self.own if fill == "self" else self.procedural)(height, width, device)


class SourcedPerlinGenerator(PerlinAnomalyGenerator):
    """anomalib's Perlin generator (masks, texture augmenters, β blend) with the texture drawn from ``texture``."""

    def __init__(
        self, texture: Callable[[int, int, torch.device | None], torch.Tensor | None], probability: float
    ) -> None:
        super().__init__(anomaly_source_path=None, probability=probability)
        self.texture = texture

    def generate_perturbation(
        self, height: int, width: int, device: torch.device | None = None, anomaly_source_path: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """anomalib's Perlin mask, filled with an augmented texture of this generator's source (or, where the source
        gives ``None``, with anomalib's own fill)."""
        del anomaly_source_path
        perturbation, mask = super().generate_perturbation(height, width, device)
        texture = self.texture(height, width, device)
        if texture is None:
            return perturbation, mask
        return self.augmenters(texture).permute(1, 2, 0) * mask, mask


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high))


def _randint(high: int) -> int:
    return int(torch.randint(high, (1,)))


def surroundings(mask: torch.Tensor, width: int) -> torch.Tensor:
    """The ring of pixels within ``width`` of a (…, H, W) {0,1} mask, outside it (max-pool dilation)."""
    grown = nn.functional.max_pool2d(mask.reshape(-1, 1, *mask.shape[-2:]).float(), 2 * width + 1, 1, width)
    return (grown.reshape(mask.shape) > 0) & (mask <= 0)


def local_contrast_ratio(image: torch.Tensor, mask: torch.Tensor, width: int | None = None) -> float:
    """Std of the grey intensity inside an anomaly over its std in the ring around it (``surroundings``).

    1 means the anomaly is as contrasted as the surface around it; anomalib's grey Perlin fill blended at β < 1 gives
    about 0.5 on the demo textures: the washed-out patch a model can learn instead of the surface.
    """
    grey = image.float().mean(dim=-3)
    inside = mask.reshape(grey.shape) > 0
    ring = surroundings(inside, width or max(3, grey.shape[-1] // 16))
    if inside.sum() < 2 or ring.sum() < 2:
        return float("nan")
    return float(grey[inside].std() / grey[ring].std().clamp_min(1e-6))


def contrast_ratios(source: str, images: torch.Tensor, samples: int, seed: int = 0) -> list[float]:
    """``samples`` :func:`local_contrast_ratio` values of one source's anomalies (probability 1) drawn on random
    batches of four of ``images`` (pixels in [0, 1]); anomalies under 4 pixels are skipped."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        synth = AnomalySynthesizer(probability=1.0, source=source)
        out: list[float] = []
        while len(out) < samples:
            batch = images[torch.randperm(len(images), generator=generator)[:4]]
            augmented, masks = synth(batch)
            out += [local_contrast_ratio(a, m) for a, m in zip(augmented, masks, strict=True) if m.sum() >= 4]
    return [r for r in out[:samples] if not math.isnan(r)]


class MatchedAnomalyGenerator(nn.Module):
    """Synthetic anomalies that keep the local contrast and grain of the surface (``anomaly_source="matched"``).

    Each anomalous image gets one of ``MATCHED_SHAPES`` (equal odds):

    * ``blob`` (anomalib's Perlin mask), ``stroke`` (a thin curved line: scratch, crack) and ``spots`` (1-4 small
      ellipses: hole, contamination), filled with a crop of another batch image (rotated, flipped, zoomed 0.5-2×) or
      a procedural texture, its mean and std per channel matched to the ring around the mask, its mean shifted by
      up to ±1.5 of that std (darker or brighter material), then either pasted (β = 1) or blended at β ∈ (0.5, 1)
      and matched again;
    * ``warp`` (dent, deformation): the surface under a Gaussian window displaced by a smooth random field, the mask
      where it moved by more than a pixel and changed;
    * ``displace`` (misplaced or shuffled part): a Perlin-blob region filled with the same image's surface from
      elsewhere, turned by a multiple of 90°.

    Example:
        >>> generator = MatchedAnomalyGenerator(probability=1.0)
        >>> images, masks = generator(torch.rand(2, 3, 64, 64))
    """

    def __init__(self, probability: float = 0.5, shapes: Sequence[str] = MATCHED_SHAPES) -> None:
        super().__init__()
        for shape in shapes:
            check_choice("shape", shape, MATCHED_SHAPES)
        self.probability = probability
        self.shapes = tuple(shapes)
        self.crops = SelfTextures()
        self.procedural = ProceduralTextures()

    # ------------------------------------------------------------------------------------------------- masks
    @staticmethod
    def blob_mask(height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """anomalib's Perlin mask: noise above 0.5 (retried until non-empty)."""
        for _ in range(10):
            mask = (generate_perlin_noise(height, width, device=device) > 0.5).float()
            if mask.sum() > 0:
                break
        return mask

    @staticmethod
    def stroke_mask(height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """A quadratic Bézier curve 1-3 % of the image wide and 20-60 % long."""
        size = min(height, width)
        start = torch.tensor([_uniform(0.15, 0.85) * height, _uniform(0.15, 0.85) * width])
        angle, length = _uniform(0, math.pi), _uniform(0.2, 0.6) * size
        step = torch.tensor([math.sin(angle), math.cos(angle)]) * length
        bend = torch.tensor([-step[1], step[0]]) * _uniform(-0.4, 0.4)
        t = torch.linspace(0, 1, 64)[:, None]
        points = (1 - t) ** 2 * start + 2 * t * (1 - t) * (start + step / 2 + bend) + t**2 * (start + step)
        yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        grid = torch.stack([yy, xx], -1).reshape(-1, 1, 2).float()
        distance = (grid - points[None]).norm(dim=-1).amin(dim=1).reshape(height, width)
        return (distance <= max(1.0, _uniform(0.005, 0.015) * size)).float().to(device)

    @staticmethod
    def spots_mask(height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """1-4 ellipses with semi-axes 2-6 % of the image, turned at random."""
        yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
        mask = torch.zeros(height, width)
        size = min(height, width)
        for _ in range(1 + _randint(4)):
            cy, cx = _uniform(0.1, 0.9) * height, _uniform(0.1, 0.9) * width
            a, b, theta = _uniform(0.02, 0.06) * size, _uniform(0.02, 0.06) * size, _uniform(0, math.pi)
            u = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)
            v = -(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)
            mask = torch.maximum(mask, ((u / a) ** 2 + (v / b) ** 2 <= 1).float())
        return mask.to(device)

    # ------------------------------------------------------------------------------------------------- fills
    def texture(self, height: int, width: int, device: torch.device | None) -> torch.Tensor:
        """A (3, H, W) fill: a crop of a batch image (zoom 0.5-2×, any turn) or a procedural texture."""
        if torch.rand(1) < 0.5:
            return self.procedural(height, width, device)
        pool = self.crops.pool
        assert pool is not None
        image = pool[_randint(len(pool))]
        zoom = math.exp(_uniform(math.log(0.5), math.log(2.0)))
        scaled = v2.functional.resize(image, [max(8, int(height * zoom)), max(8, int(width * zoom))], antialias=True)
        reps = (1, math.ceil(height / scaled.shape[-2]) + 1, math.ceil(width / scaled.shape[-1]) + 1)
        tiled = scaled.repeat(*reps)
        top, left = _randint(tiled.shape[-2] - height + 1), _randint(tiled.shape[-1] - width + 1)
        crop = tiled[:, top : top + height, left : left + width]
        crop = torch.rot90(crop, _randint(4), dims=(-2, -1)) if height == width else crop
        return self.crops.flips(crop).to(device)

    @staticmethod
    def match(values: torch.Tensor, reference: torch.Tensor, shift: float = 0.0) -> torch.Tensor:
        """Per-channel (C, N) values with the mean and std of (C, M) ``reference``, the mean moved by ``shift`` std."""
        mean, std = reference.mean(1, keepdim=True), reference.std(1, keepdim=True)
        centred = (values - values.mean(1, keepdim=True)) / values.std(1, keepdim=True).clamp_min(1e-6)
        return centred * std + mean + shift * std

    def filled(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``image`` with ``mask`` filled by a contrast-matched texture, pasted or blended (class docstring)."""
        h, w = image.shape[-2:]
        inside = mask > 0
        ring = surroundings(inside, max(3, min(h, w) // 16))
        if inside.sum() < 2 or ring.sum() < 2:
            return image
        reference = image[:, ring]
        shift = _uniform(-1.5, 1.5)
        fill = self.match(self.texture(h, w, image.device)[:, inside], reference, shift)
        if torch.rand(1) < 0.5:  # an opaque blend: part material, part surface, matched again
            beta = _uniform(0.5, 1.0)
            fill = self.match(beta * fill + (1 - beta) * image[:, inside], reference, shift)
        out = image.clone()
        out[:, inside] = fill
        return out.clamp(0, 1)

    @staticmethod
    def warped(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A local smooth displacement of the surface (dent, deformation) and where it moved and changed."""
        h, w = image.shape[-2:]
        size = min(h, w)
        cy, cx, s = _uniform(0.2, 0.8) * h, _uniform(0.2, 0.8) * w, _uniform(0.05, 0.12) * size
        yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        window = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s**2))
        field = torch.stack([generate_perlin_noise(h, w, (2, 2)) for _ in range(2)])
        amplitude = _uniform(0.3, 0.8) * s
        dy, dx = (field * window * amplitude).to(image.device)
        grid = torch.stack([(xx.to(image.device) + dx) / (w - 1), (yy.to(image.device) + dy) / (h - 1)], -1) * 2 - 1
        moved = nn.functional.grid_sample(
            image[None], grid[None], mode="bilinear", padding_mode="reflection", align_corners=True
        )[0]
        mask = ((dx**2 + dy**2).sqrt() > 1.0) & ((moved - image).abs().amax(0) > 0.03)
        return torch.where(mask, moved, image), mask  # nothing changes outside the mask

    def displaced(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A Perlin-blob region filled with the same image's surface from elsewhere, turned by k·90°."""
        h, w = image.shape[-2:]
        mask = self.blob_mask(h, w, image.device) > 0
        source = torch.roll(image, (int(_uniform(0.2, 0.8) * h), int(_uniform(0.2, 0.8) * w)), dims=(-2, -1))
        source = torch.rot90(source, _randint(4), dims=(-2, -1)) if h == w else source
        mask = mask & ((source - image).abs().amax(0) > 0.03)
        return torch.where(mask, source, image), mask  # nothing changes outside the mask

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) pixels in [0, 1] → (images with anomalies, masks (B, 1, H, W) in {0, 1})."""
        self.crops.set_batch(pixels)
        self.procedural.set_batch(pixels)
        out, masks = pixels.clone(), torch.zeros_like(pixels[:, :1])
        h, w = pixels.shape[-2:]
        for i, image in enumerate(pixels):
            if torch.rand(1) > self.probability:
                continue
            shape = self.shapes[_randint(len(self.shapes))]
            if shape == "warp":
                out[i], mask = self.warped(image)
            elif shape == "displace":
                out[i], mask = self.displaced(image)
            else:
                make = {"blob": self.blob_mask, "stroke": self.stroke_mask, "spots": self.spots_mask}[shape]
                mask = make(h, w, image.device) > 0
                out[i] = self.filled(image, mask)
            masks[i, 0] = mask.float()
        return out, masks


class AnomalySynthesizer(nn.Module):
    """DRAEM-style Perlin-masked anomalies on normalised batches (ADPS §III-D, DMDD pairs), from a chosen source.

    anomalib's generator blends in [0, 1] pixel space; batches arrive normalised by the pre-processor, so they are
    un-normalised, corrupted, then normalised again.

    Args:
        anomaly_source_path: a folder of texture images for ``source="folder"`` (DTD layout works).
        probability: share of images that get an anomaly.
        source: one of ``ANOMALY_SOURCES`` (module docstring); ``None``: ``"folder"`` with a path, else ``"perlin"``.
    """

    def __init__(
        self, anomaly_source_path: str | None = None, probability: float = 0.5, source: str | None = None
    ) -> None:
        super().__init__()
        self.source = resolve_anomaly_source(source, anomaly_source_path)
        check_anomaly_source(anomaly_source_path)
        self.textures: SelfTextures | ProceduralTextures | MixedTextures | None = None
        if self.source == "self":
            self.textures = SelfTextures()
        elif self.source == "procedural":
            self.textures = ProceduralTextures()
        elif self.source == "mixed":
            self.textures = MixedTextures()
        if self.source == "matched":
            self.generator = MatchedAnomalyGenerator(probability=probability)
        elif self.textures is None:
            self.generator = PerlinAnomalyGenerator(anomaly_source_path=anomaly_source_path, probability=probability)
        else:
            self.generator = SourcedPerlinGenerator(self.textures, probability=probability)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)

    def set_normalization(self, normalize: v2.Normalize | None) -> None:
        """Use the pre-processor's mean/std (identity when the pipeline has no Normalize)."""
        if normalize is not None:
            self.mean.copy_(torch.tensor(normalize.mean).view(1, -1, 1, 1))
            self.std.copy_(torch.tensor(normalize.std).view(1, -1, 1, 1))

    @torch.no_grad()
    def forward(self, images: torch.Tensor, probability: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (corrupted normalised images, masks (B,1,H,W) in {0,1}); ``probability`` overrides the share."""
        pixels = (images * self.std + self.mean).clamp(0, 1)
        if self.textures is not None:
            self.textures.set_batch(pixels)
        share = self.generator.probability
        self.generator.probability = share if probability is None else probability
        try:
            augmented, mask = self.generator(pixels)
        finally:
            self.generator.probability = share
        return (augmented - self.mean) / self.std, mask.float()
