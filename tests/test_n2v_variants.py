"""N2V2 (blur-pool, no top skip, median replacement) and structN2V."""

import numpy as np
import pytest
import torch

from sklearn_denoiseg import DenoiSegEstimator, DenoiSegPredictor
from sklearn_denoiseg._masking import n2v_mask
from sklearn_denoiseg._unet import BlurPool, UNet
from sklearn_denoiseg.datasets import make_blobs


def test_blur_pool_of_an_impulse():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0
    out = BlurPool(1, n_dims=2)(x)[0, 0]
    # the 2x2 max-pool with stride 1 spreads the impulse over rows/columns 2-3;
    # output i blurs rows 2i-1, 2i, 2i+1 with weights 1/4, 1/2, 1/4
    profile = torch.tensor([0.0, 3 / 4, 1 / 4, 0.0])
    torch.testing.assert_close(out, profile[:, None] * profile[None, :])


def test_blur_pool_in_3d_keeps_the_mass_of_a_constant():
    out = BlurPool(2, n_dims=3)(torch.full((1, 2, 8, 8, 8), 3.0))
    assert out.shape == (1, 2, 4, 4, 4)
    torch.testing.assert_close(out, torch.full_like(out, 3.0))


def test_n2v2_unet_has_no_top_skip_and_blur_pools():
    net = UNet(depth=2, n_filters=8, n2v2=True)
    assert net.decoder[-1][0].in_channels == 8          # up-sampled features only
    assert UNet(depth=2, n_filters=8).decoder[-1][0].in_channels == 16
    assert all(isinstance(pool, BlurPool) for pool in net.pools)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 4, 32, 32)
    assert UNet(depth=2, n_filters=8, n2v2=True, n_dims=3)(
        torch.zeros(1, 1, 8, 16, 16)).shape == (1, 4, 8, 16, 16)


def test_n2v2_tiles_equal_the_whole_image():
    torch.manual_seed(0)
    predictor = DenoiSegPredictor(UNet(depth=2, n_filters=8, n2v2=True), mean=0.0, std=1.0,
                                  device="cpu", precision="fp32")
    image = np.random.default_rng(0).normal(size=(150, 97)).astype(np.float32)
    whole = predictor.proba([image])[0]
    predictor.tile_size = 2 * predictor.margin + 4          # the smallest tile: many windows
    np.testing.assert_allclose(predictor.proba([image])[0], whole, atol=1e-5)


def _spots(mask):
    return [tuple(point) for point in np.argwhere(mask)]


def _window(patch, point, radius):
    b, *centre = point
    region = tuple(slice(max(0, c - radius), c + radius + 1) for c in centre)
    values = patch[b][region].astype(np.float64).copy()
    inner = tuple(c - max(0, c - radius) for c in centre)
    values[inner] = np.nan
    return values[~np.isnan(values)]


@pytest.mark.parametrize("shape", [(3, 24, 24), (2, 8, 12, 12)])
def test_median_replacement_is_the_window_median_without_the_centre(shape):
    patches = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    patches.flat[::7] = 1e6          # huge centres would pull a median that included them
    masked, mask = n2v_mask(patches, perc_pix=5, radius=2, rng=np.random.default_rng(1),
                            replacement="median")
    for point in _spots(mask):
        assert masked[point] == pytest.approx(np.median(_window(patches, point, 2)), rel=1e-6)


def test_uniform_replacement_never_shows_the_centre():
    patches = np.arange(4 * 16 * 16, dtype=np.float32).reshape(4, 16, 16)   # all distinct
    valid = np.array([[16, 16], [16, 16], [2, 3], [16, 1]])
    for seed in range(5):
        masked, mask = n2v_mask(patches, perc_pix=10, radius=1, rng=np.random.default_rng(seed),
                                replacement="uniform", valid_shapes=valid)
        for point in _spots(mask):
            assert masked[point] != patches[point]
            assert masked[point] in _window(patches, point, 1)
    # the paper's rule does draw the centre now and then
    masked, mask = n2v_mask(patches, perc_pix=10, radius=1, rng=np.random.default_rng(0))
    assert (masked[mask] == patches[mask]).any()


@pytest.mark.parametrize("axis, moving", [("horizontal", -1), ("vertical", -2)])
@pytest.mark.parametrize("shape", [(4, 32, 32), (2, 4, 16, 16)])
def test_struct_n2v_hides_exactly_the_line_through_each_blind_spot(axis, moving, shape):
    rng = np.random.default_rng(0)
    patches = rng.normal(size=shape).astype(np.float32)
    valid = np.tile(shape[1:], (shape[0], 1))
    valid[0, -2:] -= 5                                 # padding after the valid region in YX
    masked, mask = n2v_mask(patches, perc_pix=1.5, radius=5, rng=np.random.default_rng(1),
                            valid_shapes=valid, struct_axis=axis, struct_span=5)
    expected = np.zeros(shape, dtype=bool)
    for b, *centre in _spots(mask):
        for step in (-2, -1, 1, 2):
            point = list(centre)
            point[moving] += step
            if 0 <= point[moving] < valid[b][moving]:
                expected[(b, *point)] = True
    changed = masked != patches
    np.testing.assert_array_equal(changed & ~mask, expected & ~mask)
    assert not changed[0, ..., shape[-1] - 5:].any()         # the padding is never touched
    # lines carry values within the patch's range
    for b in range(shape[0]):
        lines = masked[b][expected[b] & ~mask[b]]
        assert lines.size and lines.min() >= patches[b].min() and lines.max() <= patches[b].max()


@pytest.mark.parametrize("params, message", [
    ({"struct_n2v_axis": "diagonal"}, "struct_n2v_axis must be None, 'horizontal' or"),
    ({"struct_n2v_span": 4}, "struct_n2v_span must be odd"),
    ({"n2v_replacement": "mean"}, "n2v_replacement must be None or one of"),
    ({"n2v2": "yes"}, "n2v2 must be True or False"),
])
def test_invalid_variant_parameters(params, message):
    X, y = make_blobs(n_images=2, shape=(32, 32), random_state=0)
    with pytest.raises((ValueError, TypeError), match=message):
        DenoiSegEstimator(**params).fit(X, y)


@pytest.mark.parametrize("params", [{"n2v2": True}, {"struct_n2v_axis": "horizontal"},
                                    {"n2v2": True, "axes": "ZYX"},
                                    {"struct_n2v_axis": "vertical", "axes": "YXC"}])
def test_variants_train_predict_and_reload(params, tmp_path):
    three_d = params.get("axes") == "ZYX"
    X, y = make_blobs(n_images=4, shape=(16, 32, 32) if three_d else (32, 32), random_state=0)
    if params.get("axes") == "YXC":
        X = np.stack([X, X**2], axis=-1)
    est = DenoiSegEstimator(depth=2, n_filters=8, patch_size=(16, 32, 32) if three_d else 32,
                            batch_size=4, max_epochs=1, steps_per_epoch=2, random_state=0,
                            verbose=0, **params).fit(X, y)
    assert est.predict(X).shape == y.shape and est.transform(X).shape == X.shape
    est.save(tmp_path / "model.pt")
    loaded = DenoiSegEstimator.load(tmp_path / "model.pt")
    assert loaded.get_params()["n2v2"] == est.n2v2
    np.testing.assert_allclose(loaded.transform(X), est.transform(X), rtol=1e-5, atol=1e-5)
