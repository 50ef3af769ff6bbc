"""Z-stacks and multichannel images: axes, 3D masking and augmentation, the
3D U-Net, and the estimator end to end on tiny 3D and 2-channel data."""

import numpy as np
import pytest
import torch

from sklearn_denoiseg import DenoiSegEstimator, _hardware
from sklearn_denoiseg._axes import ImageAxes
from sklearn_denoiseg._masking import box_side, n2v_mask
from sklearn_denoiseg._parameters import with_defaults
from sklearn_denoiseg._patches import PatchSampler
from sklearn_denoiseg._unet import UNet
from sklearn_denoiseg._validation import check_images
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.metrics import average_precision

TINY_3D = dict(depth=2, n_filters=8, patch_size=(8, 16, 16), batch_size=4, verbose=0,
               random_state=0)


# ---------------------------------------------------------------- axes


@pytest.mark.parametrize("axes, shape, channels_first", [
    ("YX", (5, 6), (1, 5, 6)), ("ZYX", (4, 5, 6), (1, 4, 5, 6)),
    ("YXC", (5, 6, 2), (2, 5, 6)), ("CYX", (2, 5, 6), (2, 5, 6)),
    ("ZYXC", (4, 5, 6, 3), (3, 4, 5, 6)), ("CZYX", (3, 4, 5, 6), (3, 4, 5, 6)),
])
def test_axes_round_trip(axes, shape, channels_first):
    image = np.arange(np.prod(shape)).reshape(shape)
    spec = ImageAxes(axes)
    moved = spec.to_channels_first(image)
    assert moved.shape == channels_first
    np.testing.assert_array_equal(spec.from_channels_first(moved), image)
    assert spec.spatial_shape(image) == channels_first[1:]


@pytest.mark.parametrize("X, axes, message", [
    (np.zeros((16, 32, 32)), "ZYX", "it reads as a single image: pass X[np.newaxis]"),
    (np.zeros((2, 16, 32, 32)), "YX", "for Z-stacks use axes='ZYX'"),
    ([np.zeros((32, 32, 2)), np.zeros((32, 32, 3))], "YXC",
     "X[1] has 3 channels but X[0] has 2"),
    ([np.zeros((32, 32))], "YXC", "X[0] has shape (32, 32), but axes='YXC' implies an image "
     "of shape (Y, X, C)"),
])
def test_input_that_does_not_fit_the_axes(X, axes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        check_images(X, axes=ImageAxes(axes))


def test_a_3d_array_with_yx_axes_is_a_stack_of_2d_images():
    images, is_stack = check_images(np.zeros((3, 8, 9)), axes=ImageAxes("YX"))
    assert is_stack and [im.shape for im in images] == [(8, 9)] * 3


def test_unknown_axes_are_refused():
    with pytest.raises(ValueError, match="axes must be one of"):
        DenoiSegEstimator(axes="XY").fit(np.zeros((2, 16, 16)))


# ------------------------------------------------------ masking in 3D


def test_3d_masking_density_and_window():
    assert box_side(1.5, n_dims=3) == 4           # cube root, not square root
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(6, 16, 32, 32))
    masked, mask = n2v_mask(patches, perc_pix=1.5, radius=2, rng=rng)
    assert mask.mean() == pytest.approx(1 / 64)   # one voxel per 4x4x4 box
    changed = masked != patches
    assert not (changed & ~mask).any()
    # every replacement value comes from the 5x5x5 window around its voxel
    for b, z, y, x in np.argwhere(mask)[:200]:
        window = patches[b, max(0, z - 2):z + 3, max(0, y - 2):y + 3, max(0, x - 2):x + 3]
        assert masked[b, z, y, x] in window


def test_3d_augmentation_rotates_in_yx_only():
    # value = z index: any move of Z would show
    image = np.broadcast_to(np.arange(8, dtype=np.float32)[:, None, None], (8, 24, 24))
    sampler = PatchSampler([image[None].copy()], [None], patch_size=(8, 16, 16), batch_size=32,
                           label_fraction=None, perc_pix=0.1, radius=1)
    x, target = sampler.sample(np.random.default_rng(0))
    assert x.shape == (32, 1, 8, 16, 16)
    np.testing.assert_array_equal(target["original"][:, 0, :, 3, 5],
                                  np.broadcast_to(np.arange(8), (32, 8)))


def test_non_square_patches_keep_their_shape():
    image = np.random.default_rng(0).normal(size=(1, 40, 40)).astype(np.float32)
    sampler = PatchSampler([image], [None], patch_size=(16, 32), batch_size=16,
                           label_fraction=None, perc_pix=1.5, radius=2)
    x, target = sampler.sample(np.random.default_rng(1))
    assert x.shape == (16, 1, 16, 32) and target["classes"].shape == (16, 16, 32)


def test_channels_get_independent_blind_spots():
    image = np.random.default_rng(0).normal(size=(2, 32, 32)).astype(np.float32)
    sampler = PatchSampler([image], [None], patch_size=32, batch_size=4,
                           label_fraction=None, perc_pix=1.5, radius=2)
    _, target = sampler.sample(np.random.default_rng(0))
    mask = target["n2v_mask"]
    assert mask.shape == (4, 2, 32, 32)
    assert mask[:, 0].sum() == mask[:, 1].sum() == 4 * 16
    assert (mask[:, 0] != mask[:, 1]).any()


def test_3d_unet_with_channels():
    net = UNet(depth=2, n_filters=4, n_dims=3, in_channels=2)
    assert net(torch.zeros(1, 2, 8, 16, 12)).shape == (1, 2 + 3, 8, 16, 12)


# ------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def stacks():
    X, y = make_blobs(n_images=6, shape=(16, 32, 32), n_blobs=4, radius=(3, 5), noise=0.3,
                      random_state=0)
    y_partial = y.copy()
    y_partial[3:] = 0
    return X, y, y_partial


@pytest.fixture(scope="module")
def trained_3d(stacks):
    X, _, y = stacks
    return DenoiSegEstimator(**TINY_3D, axes="ZYX", max_epochs=10, steps_per_epoch=8,
                             lr=4e-3).fit(X, y)


def test_3d_shapes_through_fit_predict_transform_score(trained_3d, stacks):
    X, y, _ = stacks
    assert trained_3d.predict(X).shape == X.shape
    assert trained_3d.transform(X).shape == X.shape
    assert trained_3d.predict_proba(X).shape == (*X.shape, 3)
    assert 0 <= trained_3d.score(X, y) <= 1
    odd = [X[0][:13, :30, :21]]                       # any size, padded and cropped back
    assert trained_3d.predict(odd)[0].shape == (13, 30, 21)


def test_3d_training_beats_an_untrained_network(trained_3d, stacks):
    X, y, _ = stacks
    untrained = DenoiSegEstimator(**TINY_3D, axes="ZYX", max_epochs=1, steps_per_epoch=1,
                                  lr=1e-9, threshold=0.5).fit(X[:3], y[:3])
    assert trained_3d.score(X[3:], y[3:]) > untrained.score(X[3:], y[3:]) + 0.3


@pytest.mark.parametrize("shape, tile_size", [
    # margin 28 for depth 2: the 12 planes mirrored to 68 in one window,
    # tiles in Y and X
    ((12, 90, 70), (128, 96, 96)),
    ((80, 40, 40), (64, 1024, 1024)),  # tiles in Z only
])
def test_3d_tiling_equals_whole_volume(trained_3d, shape, tile_size):
    volume = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    trained_3d.set_params(tile_size=1024)
    try:
        whole = trained_3d.predict_proba([volume])[0]
        trained_3d.set_params(tile_size=tile_size)
        tiled = trained_3d.predict_proba([volume])[0]
    finally:
        trained_3d.set_params(tile_size=None)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("native_bf16", [True, False])
def test_3d_networks_train_in_fp32_on_a_cpu_by_default(native_bf16, stacks, monkeypatch):
    # bf16 3D training diverged to NaN at random on CPUs with bfloat16
    # instructions (issue item 5); "auto" must not pick it there
    monkeypatch.setattr(_hardware, "cpu_has_native_bf16", lambda: native_bf16)
    X, _, y = stacks
    est = DenoiSegEstimator(**TINY_3D, axes="ZYX", max_epochs=1, steps_per_epoch=1)
    est.fit(X[:2], y[:2])
    assert est.precision_ == "fp32" and not est.predictor_._autocast
    assert _hardware.resolve_precision("auto", "cpu", n_dims=2) == ("bf16" if native_bf16
                                                                   else "fp32")
    assert _hardware.resolve_precision("bf16", "cpu", n_dims=3) == "bf16"   # asked for
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert _hardware.resolve_precision("auto", "cuda", n_dims=3) == "bf16"


def test_patch_and_batch_defaults_follow_the_dimensionality():
    params = DenoiSegEstimator(axes="ZYX").get_params()
    assert params["patch_size"] is None and params["batch_size"] is None
    resolved = with_defaults(params)
    assert (resolved["patch_size"], resolved["batch_size"]) == ((16, 64, 64), 8)
    resolved = with_defaults(DenoiSegEstimator(axes="YXC").get_params())
    assert (resolved["patch_size"], resolved["batch_size"]) == (64, 128)   # the paper's
    # a given value is kept
    assert with_defaults({**params, "batch_size": 3})["batch_size"] == 3
    with pytest.raises(ValueError, match=r"got None, which means \(16, 64, 64\) here"):
        DenoiSegEstimator(axes="ZYX", depth=5).fit(np.zeros((2, 16, 32, 32), np.float32))


def test_3d_model_saves_and_loads(trained_3d, stacks, tmp_path):
    trained_3d.save(tmp_path / "stack.pt")
    loaded = DenoiSegEstimator.load(tmp_path / "stack.pt")
    np.testing.assert_array_equal(loaded.predict(stacks[0][:2]), trained_3d.predict(stacks[0][:2]))


@pytest.mark.parametrize("axes", ["YXC", "CYX"])
def test_multichannel_shapes(axes):
    X, y = make_blobs(n_images=4, shape=(32, 32), random_state=0)
    X2 = np.stack([X, 2 * X + 5], axis=-1 if axes == "YXC" else 1)
    est = DenoiSegEstimator(depth=2, n_filters=8, patch_size=32, batch_size=4, max_epochs=1,
                            steps_per_epoch=2, axes=axes, random_state=0, verbose=0).fit(X2, y)
    assert est.mean_.shape == (2,)
    np.testing.assert_allclose(est.mean_, [X.mean(), 2 * X.mean() + 5], rtol=1e-5)
    assert est.transform(X2).shape == X2.shape
    assert est.predict(X2).shape == X.shape
    assert est.predict_proba(X2).shape == (*X.shape, 3)
    with pytest.raises(ValueError, match="or images without channels: use axes='YX'"):
        est.predict(X)


def test_second_channel_carries_what_the_first_lacks():
    # channel 0 is noise only; channel 1 shows the blobs
    X, y = make_blobs(n_images=8, shape=(48, 48), noise=0.3, random_state=0)
    noise = np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    X2 = np.stack([noise, X], axis=-1)
    params = dict(depth=2, n_filters=8, patch_size=32, batch_size=8, max_epochs=10,
                  steps_per_epoch=8, lr=4e-3, random_state=0, verbose=0)
    both = DenoiSegEstimator(**params, axes="YXC").fit(X2[:6], y[:6])
    first_only = DenoiSegEstimator(**params).fit(noise[:6], y[:6])
    assert both.score(X2[6:], y[6:]) > first_only.score(noise[6:], y[6:]) + 0.4


def test_metrics_on_3d_volumes_with_known_iou():
    truth = np.zeros((4, 10, 10), int)
    truth[:, 2:6, 2:6] = 1                       # 64 voxels
    shifted = np.zeros_like(truth)
    shifted[:, 3:7, 2:6] = 1                     # overlap 48: IoU 48 / 80 = 0.6
    assert average_precision([truth], [shifted]) == 1.0
    thin = np.zeros_like(truth)
    thin[:, 2:4, 2:6] = 1                        # overlap 32: IoU 0.5, not above
    assert average_precision([truth], [thin]) == 0.0


def test_stacks_through_the_command_line(tmp_path, capsys):
    import tifffile

    from sklearn_denoiseg.cli import main

    X, y = make_blobs(n_images=4, shape=(16, 32, 32), n_blobs=4, radius=(3, 5),
                      random_state=0)
    for sub in ("raw", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(4):
        # ImageJ hyperstacks with their axes, the way Fiji saves them
        tifffile.imwrite(tmp_path / "raw" / f"s{i}.tif", (X[i] * 1000 + 2000).astype(np.uint16),
                         imagej=True, metadata={"axes": "ZYX"})
        if i < 2:
            tifffile.imwrite(tmp_path / "masks" / f"s{i}_mask.tif", y[i].astype(np.uint16),
                             imagej=True, metadata={"axes": "ZYX"})
    model, out = tmp_path / "m.pt", tmp_path / "out"
    assert main(["train", str(tmp_path / "raw"), "--masks", str(tmp_path / "masks"),
                 "--model", str(model), "--axes", "ZYX", "--patch_size", "8", "16", "16",
                 "--preset", "smoke", "--random_state", "0", "--verbose", "0"]) == 0
    assert DenoiSegEstimator.load(model).get_params()["patch_size"] == [8, 16, 16]
    assert main(["predict", str(model), str(tmp_path / "raw"), "--output", str(out),
                 "--denoised", "--quiet"]) == 0
    assert tifffile.imread(out / "s0.tif").shape == (16, 32, 32)
    assert tifffile.imread(out / "s0_denoised.tif").shape == (16, 32, 32)
    assert main(["evaluate", "--predictions", str(out), "--masks", str(tmp_path / "masks"),
                 "--axes", "ZYX"]) == 0
    assert "mean" in capsys.readouterr().out
    # a stack read as 2D says what to do
    assert main(["train", str(tmp_path / "raw"), "--model", str(tmp_path / "n.pt")]) == 1
    assert "pass --axes ZYX" in capsys.readouterr().err


def test_read_image_transposes_channels_by_the_file_axes(tmp_path):
    import tifffile

    from sklearn_denoiseg.io import read_image

    stack = np.arange(4 * 2 * 8 * 8, dtype=np.uint16).reshape(4, 2, 8, 8)
    tifffile.imwrite(tmp_path / "zcyx.tif", stack, imagej=True, metadata={"axes": "ZCYX"})
    image = read_image(tmp_path / "zcyx.tif", "ZYXC")
    np.testing.assert_array_equal(image, np.moveaxis(stack, 1, -1))
    np.save(tmp_path / "plain.npy", stack[:, 0])          # no metadata: order as asked
    assert read_image(tmp_path / "plain.npy", "ZYX").shape == (4, 8, 8)
    with pytest.raises(ValueError, match="axes 'ZCYX', but axes='ZYX' was asked for"):
        read_image(tmp_path / "zcyx.tif", "ZYX")


def test_3d_volume_in_dask_chunks_equals_in_memory(trained_3d):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("dask_image")
    from sklearn_denoiseg.out_of_core import predict_dask

    X, _ = make_blobs(n_images=1, shape=(24, 130, 120), n_blobs=25, radius=(3, 6),
                      random_state=4)
    volume = X[0]
    lazy = da.from_array(volume, chunks=(12, 50, 45))     # borders on every axis
    foreground = predict_dask(trained_3d, lazy, output="foreground").compute()
    np.testing.assert_allclose(foreground, trained_3d.predict_proba([volume])[0][..., 1],
                               atol=1e-5)
    labels = predict_dask(trained_3d, lazy).compute()
    assert average_precision([trained_3d.predict([volume])[0]], [labels],
                             iou_threshold=0.99) == 1.0
    several = predict_dask(trained_3d, da.from_array(X, chunks=(1, 12, 64, 64)),
                           output="denoised").compute()
    np.testing.assert_allclose(several, trained_3d.transform(X), atol=1e-4)


def test_dask_refuses_channels_clearly():
    da = pytest.importorskip("dask.array")
    from sklearn_denoiseg.out_of_core import predict_dask

    X, y = make_blobs(n_images=2, shape=(32, 32), random_state=0)
    est = DenoiSegEstimator(depth=2, n_filters=8, patch_size=32, batch_size=4, max_epochs=1,
                            steps_per_epoch=1, axes="YXC", verbose=0).fit(X[..., None], y)
    with pytest.raises(ValueError, match="axes='YX' or 'ZYX'"):
        predict_dask(est, da.zeros((4, 32, 32, 1)))
