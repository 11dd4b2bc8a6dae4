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
  the models can learn to call "anomalous". Measured on the demo suite, it lowered both models' mean pixel AP
  (Dmdd 0.474 → 0.263, Adps 0.321 → 0.255; README, "Quality experiments", round 2), so no recipe uses it.
* ``"folder"``: a user's texture folder (DTD, as DRAEM, DeSTSeg and ADPS use): ``anomaly_source_path``.

Nothing is downloaded, and none of the sources reads the photographs the demo data is built from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from anomalib.data.utils.generators import PerlinAnomalyGenerator
from anomalib.data.utils.generators.perlin import generate_perlin_noise
from torch import nn
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2


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


ANOMALY_SOURCES = ("perlin", "self", "procedural", "mixed", "folder")
MIXED_FILLS = ("perlin", "self", "procedural")
PROCEDURAL_KINDS = ("noise", "stripes", "checks", "gabor", "field")


def resolve_anomaly_source(source: str | None, path: str | None) -> str:
    """The source to use: a folder path implies ``"folder"``; ``None`` means ``"perlin"`` (anomalib's fill)."""
    if source is None:
        return "folder" if path is not None else "perlin"
    if source not in ANOMALY_SOURCES:
        raise ValueError(f"anomaly_source must be one of {ANOMALY_SOURCES}, got {source!r}")
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
        if self.textures is None:
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
