"""ADPS: Asymmetric Distillation Post-Segmentation (Xing et al., IEEE TNNLS 2025)."""

from .lightning_model import Adps
from .torch_model import AdpsModel

__all__ = ["Adps", "AdpsModel"]
