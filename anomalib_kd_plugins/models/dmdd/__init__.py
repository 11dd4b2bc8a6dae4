"""DMDD: Dual-Modeling Decouple Distillation (Liu et al., ACM MM 2024)."""

from .lightning_model import Dmdd
from .torch_model import DmddModel

__all__ = ["Dmdd", "DmddModel"]
