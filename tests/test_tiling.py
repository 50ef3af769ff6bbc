import numpy as np
import pytest
import torch

from sklearn_denoiseg._tiling import pad_to_multiple, predict_tiled, tile_windows
from sklearn_denoiseg._unet import UNet, receptive_field_radius


@pytest.mark.parametrize("shape", [(16, 16), (17, 5), (3, 30), (1, 1)])
def test_pad_to_multiple_and_crop_back(shape):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    padded, crop = pad_to_multiple(image, 8)
    assert all(side % 8 == 0 for side in padded.shape)
    np.testing.assert_array_equal(padded[crop], image)


@pytest.mark.parametrize("shape", [(96, 96), (160, 64), (200, 104)])
def test_cores_cover_image_exactly_once(shape):
    coverage = np.zeros(shape, dtype=int)
    for window, core_in_window, core in tile_windows(shape, tile_size=64, margin=16):
        window_rows = window[0].stop - window[0].start
        assert window_rows <= 64 and window_rows % 8 == 0
        assert core_in_window[0].stop - core_in_window[0].start == core[0].stop - core[0].start
        coverage[core] += 1
    assert (coverage == 1).all()


def test_tiled_equals_whole_image_prediction():
    torch.manual_seed(0)
    depth = 2
    net = UNet(depth=depth, n_filters=8).eval()
    margin = 28  # receptive_field_radius(2) = 26, rounded up to a multiple of 4
    assert receptive_field_radius(depth) <= margin

    def forward(window):
        with torch.no_grad():
            return net(torch.from_numpy(window)[None, None])[0].numpy()

    image = np.random.default_rng(0).normal(size=(150, 97)).astype(np.float32)
    whole = predict_tiled(forward, image, multiple=4, tile_size=1024, margin=margin)
    tiled = predict_tiled(forward, image, multiple=4, tile_size=64, margin=margin)
    assert len(tile_windows((152, 100), 64, margin)) > 4
    assert whole.shape == tiled.shape == (4, 150, 97)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_only_requested_channels_are_kept():
    def forward(window):
        return np.stack([window, 2 * window, 3 * window])

    image = np.random.default_rng(0).normal(size=(70, 50)).astype(np.float32)
    for tile_size in (1024, 32):
        kept = predict_tiled(forward, image, multiple=4, tile_size=tile_size, margin=8,
                             channels=slice(1, 2))
        assert kept.shape == (1, 70, 50)
        np.testing.assert_allclose(kept[0], 2 * image, rtol=1e-6)
