"""Split → merge is the identity, and split yields the row-major k×k tiles (ADPS §III-A)."""

import pytest
import torch

from anomalib_kd_plugins.models.adps.patches import merge_patches, split_patches


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3, 7])
def test_split_merge_identity(k: int, channels: int) -> None:
    x = torch.randn(3, channels, 8 * k, 4 * k)
    assert torch.equal(merge_patches(split_patches(x, k), k), x)


def test_split_is_row_major_tiles() -> None:
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    p = split_patches(x, 4)
    assert p.shape == (2 * 16, 1, 2, 2)
    # image 1, tile (row 2, col 3) is patch index 16 + 2*4 + 3
    assert torch.equal(p[16 + 2 * 4 + 3, 0], x[1, 0, 4:6, 6:8])


def test_merge_places_features_by_position() -> None:
    k = 2
    f = torch.stack([torch.full((3, 2, 2), float(i)) for i in range(k * k)])  # patch i holds value i
    merged = merge_patches(f, k)
    assert merged.shape == (1, 3, 4, 4)
    assert merged[0, 0, 0, 0] == 0 and merged[0, 0, 0, 3] == 1 and merged[0, 0, 3, 0] == 2 and merged[0, 0, 3, 3] == 3
