"""Real-photo MVTec-layout datasets built offline from photographs shipped in scikit-image."""

from .realphoto import CATEGORIES, DEFAULT_CATEGORIES, DEFECTS, BuildConfig, build, build_category

__all__ = ["CATEGORIES", "DEFAULT_CATEGORIES", "DEFECTS", "BuildConfig", "build", "build_category"]
