import numpy as np
import pytest
import torch

from sklearn_denoiseg._tiling import (check_tile_size, context_margin, pad_border,
                                      predict_tiled, tile_shape, tile_windows)
from sklearn_denoiseg._unet import UNet, receptive_field_radius


@pytest.mark.parametrize("shape", [(16, 16), (17, 5), (3, 30), (1, 1)])
def test_pad_border_and_crop_back(shape):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    padded, crop = pad_border(image, 16, 8)
    assert all(side % 8 == 0 for side in padded.shape)
    np.testing.assert_array_equal(padded[crop], image)


def test_border_rule_mirrors_to_the_grid_then_by_the_margin():
    image = np.random.default_rng(0).normal(size=(2, 30, 33))
    padded, crop = pad_border(image, 8, 4, n_leading=1)
    to_grid = np.pad(image, [(0, 0), (0, 2), (0, 3)], mode="symmetric")
    np.testing.assert_array_equal(
        padded, np.pad(to_grid, [(0, 0), (8, 8), (8, 8)], mode="symmetric"))
    assert crop == (slice(8, 38), slice(8, 41))


@pytest.mark.parametrize("shape", [(96, 96), (160, 64), (200, 104)])
def test_cores_cover_image_exactly_once(shape):
    margin = 16
    coverage = np.zeros([side - 2 * margin for side in shape], dtype=int)
    for window, core_in_window, core in tile_windows(shape, (64, 64), margin=margin):
        window_rows = window[0].stop - window[0].start
        assert window_rows <= 64 and window_rows % 8 == 0
        assert core_in_window[0].stop - core_in_window[0].start == core[0].stop - core[0].start
        # every core has the full margin of context on every side
        assert core_in_window[0].start == margin
        assert window_rows - core_in_window[0].stop == margin
        coverage[core] += 1
    assert (coverage == 1).all()


def test_cores_cover_a_volume_exactly_once():
    shape = (40, 96, 72)
    coverage = np.zeros([side - 16 for side in shape], dtype=int)
    for _, _, core in tile_windows(shape, (48, 48, 48), margin=8):
        coverage[core] += 1
    assert (coverage == 1).all()


def test_context_margin_covers_the_receptive_field():
    for depth in range(1, 6):
        margin = context_margin(depth)
        assert margin % 2**depth == 0
        assert receptive_field_radius(depth) <= margin < receptive_field_radius(depth) + 2**depth


def unet_forward(depth=2):
    torch.manual_seed(0)
    net = UNet(depth=depth, n_filters=8).eval()

    def forward(batch):
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()

    return forward


def test_tiled_equals_whole_image_prediction():
    forward = unet_forward()
    margin = context_margin(2)
    image = np.random.default_rng(0).normal(size=(1, 150, 97)).astype(np.float32)
    [whole] = predict_tiled(forward, [image], multiple=4, tile=(1024, 1024), margin=margin)
    [tiled] = predict_tiled(forward, [image], multiple=4, tile=(64, 64), margin=margin)
    assert len(tile_windows((152 + 2 * margin, 100 + 2 * margin), (64, 64), margin)) > 4
    assert whole.shape == tiled.shape == (4, 150, 97)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


@pytest.mark.parametrize("shape", [(32, 32), (30, 45)])
def test_prediction_applies_the_border_rule(shape):
    forward = unet_forward()
    margin = context_margin(2)
    image = np.random.default_rng(0).normal(size=(1, *shape)).astype(np.float32)
    [result] = predict_tiled(forward, [image], multiple=4, tile=(1024, 1024), margin=margin)
    padded, crop = pad_border(image, margin, 4, n_leading=1)
    np.testing.assert_allclose(result, forward(padded[np.newaxis])[0][(slice(None), *crop)],
                               atol=1e-6)


def test_batched_images_equal_one_by_one():
    forward = unet_forward()
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(1, *shape)).astype(np.float32)
              for shape in [(32, 32), (30, 31), (32, 32), (70, 20), (32, 32), (150, 97)]]
    settings = dict(multiple=4, tile=(64, 64), margin=context_margin(2))
    together = predict_tiled(forward, images, **settings)
    for image, result in zip(images, together):
        [alone] = predict_tiled(forward, [image], **settings)
        assert result.shape == (4, *image.shape[1:])
        np.testing.assert_allclose(result, alone, atol=1e-5)


def test_windows_of_one_shape_share_forward_calls_within_the_pixel_budget():
    calls = []

    def forward(batch):
        calls.append(batch.shape)
        return batch

    images = [np.full((1, 32, 32), i, np.float32) for i in range(10)] + [np.zeros((1, 16, 8))]
    # the windows are the images with a margin of 8 on every side
    results = predict_tiled(forward, images, multiple=4, tile=(128, 128), margin=8,
                            max_pixels=4 * 48 * 48)
    assert sorted(calls) == sorted([(4, 1, 48, 48), (4, 1, 48, 48), (2, 1, 48, 48),
                                    (1, 1, 32, 24)])
    for i, result in enumerate(results[:10]):
        assert (result == i).all()                   # every image got its own output


def test_only_requested_channels_are_kept():
    def forward(batch):
        return np.concatenate([batch, 2 * batch, 3 * batch], axis=1)

    image = np.random.default_rng(0).normal(size=(1, 70, 50)).astype(np.float32)
    for side in (1024, 32):
        [kept] = predict_tiled(forward, [image], multiple=4, tile=(side, side), margin=8,
                               channels=slice(1, 2))
        assert kept.shape == (1, 70, 50)
        np.testing.assert_allclose(kept, 2 * image, rtol=1e-6)


def test_windows_follow_a_tile_shape_per_axis():
    # a stack of 40 planes in windows of 64 planes: never cut in Z
    windows = tile_windows((40, 96, 72), (64, 48, 48), margin=8)
    assert {w[0].stop - w[0].start for w, _, _ in windows} == {40}
    assert max(w[1].stop - w[1].start for w, _, _ in windows) == 48


def test_default_tile_shape_leaves_a_core_for_every_depth():
    # 2D: an image of up to 1024x1024 in one window, its mirrored margins included
    assert tile_shape(None, 4, 2) == (1280, 1280)
    assert tile_shape(None, 2, 3) == (64, 256, 256)
    for depth in range(1, 6):
        for n_dims in (2, 3):
            shape = tile_shape(None, depth, n_dims)
            check_tile_size(shape, depth, n_dims)              # a valid explicit value too
            assert all(side % 2**depth == 0 and side > 2 * context_margin(depth)
                       for side in shape)
        assert tile_shape(None, depth, 2) == (1024 + 2 * context_margin(depth),) * 2
    assert tile_shape((70, 130, 100), 2, 3) == (68, 128, 100)  # rounded down to the grid


@pytest.mark.parametrize("tile_size, message", [
    (32, r"tile_size must be in \[60, inf\]"),
    ((64, 64), "tuple of 3 integers"),
    ((64, 32, 64), r"tile_size\[1\] must be in \[60, inf\]"),
])
def test_tile_size_errors_name_the_axis(tile_size, message):
    with pytest.raises(ValueError, match=message):
        check_tile_size(tile_size, 2, 3)
