"""Real-photo MVTec-layout datasets built offline from photographs shipped in scikit-image."""

from .realphoto import (
    CATEGORIES,
    DEFAULT_CATEGORIES,
    DEFECTS,
    SUITE_SIZE,
    BuildConfig,
    build,
    build_category,
    check_suite,
    read_manifest,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORIES",
    "DEFECTS",
    "SUITE_SIZE",
    "BuildConfig",
    "build",
    "build_category",
    "check_suite",
    "read_manifest",
]
