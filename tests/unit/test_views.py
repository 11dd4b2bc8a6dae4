"""Test-time views of the KD map (components/views.py): the views, their inverse, the mean, and both models' maps."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_model

from anomalib_kd_plugins.components.views import EXTRA_VIEWS, KD_VIEWS, unview, view, view_mean

ALL_VIEWS = [(k, mirror) for mirror in (False, True) for k in range(4)]


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 3, 4, 6)])
def test_each_view_is_a_symmetry_of_the_square_and_unview_undoes_it(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape)
    seen = set()
    for k, mirror in ALL_VIEWS:
        v = view(x, k, mirror)
        torch.testing.assert_close(v, torch.rot90(x.flip(-1) if mirror else x, k, (-2, -1)))
        torch.testing.assert_close(unview(v, k, mirror), x)
        seen.add(v.flatten().tolist().__repr__())
    assert len(seen) == 8  # eight different views of a generic image
    # the choices: 1, 2, 4 and 8 views, each a different symmetry, none the identity
    assert [len(EXTRA_VIEWS[c]) + 1 for c in KD_VIEWS] == [1, 2, 4, 8]
    assert all((0, False) not in EXTRA_VIEWS[c] and len(set(EXTRA_VIEWS[c])) == len(EXTRA_VIEWS[c]) for c in KD_VIEWS)
    assert all(k % 2 == 0 for k, _ in EXTRA_VIEWS["flips"])  # rows stay rows


@pytest.mark.parametrize("kd_views", KD_VIEWS)
@pytest.mark.parametrize("size", [(8, 8), (8, 12)])
def test_the_mean_keeps_what_turns_with_the_image_and_cancels_what_stays_on_the_grid(
    kd_views: str, size: tuple[int, int]
) -> None:
    """A map that is part of the image (a defect) turns with each view and comes back whole; an error fixed to the
    grid lands elsewhere on the image in every view, so the mean spreads it out: the mechanism the option rests on."""
    torch.manual_seed(0)
    images = torch.rand(3, 1, *size)
    grid_error = torch.zeros(1, 1, *size)
    grid_error[..., 1, 2] = 1.0  # one position of the grid where this "student" always errs

    def equivariant(x: torch.Tensor) -> torch.Tensor:
        return x.mean(1, keepdim=True)

    def erring(x: torch.Tensor) -> torch.Tensor:
        return equivariant(x) + grid_error.expand(len(x), 1, -1, -1) if x.shape[-2:] == size else equivariant(x)

    torch.testing.assert_close(view_mean(equivariant(images), images, equivariant, kd_views), equivariant(images))
    error = view_mean(erring(images), images, erring, kd_views) - equivariant(images)
    views = len(EXTRA_VIEWS[kd_views]) + 1
    same_shape = 1 + sum(k % 2 == 0 for k, _ in EXTRA_VIEWS[kd_views]) if size[0] != size[1] else views
    # the error's total is kept (each view adds it once where its shape fits), its peak falls with the views
    torch.testing.assert_close(error.sum((1, 2, 3)), torch.full((3,), same_shape / views))
    if kd_views != "none":
        assert error.amax() < 1.0


def test_a_bad_kd_views_is_refused_with_the_choices() -> None:
    for name in ("Adps", "Dmdd"):
        with pytest.raises(ValueError, match=r"kd_views must be one of \('none', 'flip', 'flips', 'dihedral'\)"):
            tiny_model(name, kd_views="eight")


@pytest.mark.parametrize("name", ["Adps", "Dmdd"])
@pytest.mark.parametrize("kd_views", ["flip", "dihedral"])
def test_both_models_average_their_kd_map_over_the_views_and_leave_the_rest(name: str, kd_views: str) -> None:
    """The KD map of ``maps`` and of the exported forward is the mean of the single-view model's KD maps of each view,
    turned back; the head's map, the training forward and the learning curves' single-view pass are unchanged."""
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    plain = tiny_model(name, map_fusion="seg+kd", kd_pool=3).model.eval()
    viewed = tiny_model(name, map_fusion="seg+kd", kd_pool=3, kd_views=kd_views).model.eval()
    viewed.load_state_dict(plain.state_dict())  # the same weights: the option adds none
    views = [(0, False), *EXTRA_VIEWS[kd_views]]
    with torch.no_grad():
        seg_plain, kd_plain = plain.maps(images)
        seg, kd = viewed.maps(images)
        expected = torch.stack([unview(plain.maps(view(images, *v))[1], *v) for v in views]).mean(0)
        curves_seg, curves_kd, _ = viewed.maps_and_distances(images)
        single_seg, single_kd = viewed.maps(images, views=False)  # the curves' probe of the synthetic anomalies
        fusion = viewed.anomaly_map_generator.fusion
        fusion.stats.copy_(torch.tensor([0.5, 0.2, 0.3, 0.1]))
        anomaly_map = viewed(images).anomaly_map
        expected_map = viewed.anomaly_map_generator.smoother(fusion(seg, kd))
    torch.testing.assert_close(seg, seg_plain)
    torch.testing.assert_close(kd, expected)
    assert not torch.allclose(kd, kd_plain, atol=1e-4)  # the views act
    torch.testing.assert_close(curves_kd, kd_plain)  # the curves read the single view
    torch.testing.assert_close(curves_seg, seg_plain)
    torch.testing.assert_close(single_kd, kd_plain)
    torch.testing.assert_close(single_seg, seg_plain)
    torch.testing.assert_close(anomaly_map, expected_map)  # the exported forward scores the averaged map
