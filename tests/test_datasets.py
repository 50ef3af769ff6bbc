import numpy as np
import pytest
from scipy import ndimage

from sklearn_denoiseg.datasets import (
    add_gaussian_noise,
    crop_grid,
    keep_annotated,
    load_nuclei,
    make_blobs,
    make_nuclei,
)


def test_load_nuclei():
    pytest.importorskip("stardist")  # the [test] extra installs it
    image, labels = load_nuclei()
    assert image.shape == labels.shape == (512, 512)
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert len(np.unique(labels)) - 1 == 125


def test_crop_grid_order_and_remainder():
    image = np.arange(10 * 7).reshape(10, 7)
    crops = crop_grid(image, 3)
    assert crops.shape == (3 * 2, 3, 3)
    np.testing.assert_array_equal(crops[1], image[0:3, 3:6])
    np.testing.assert_array_equal(crops[2], image[3:6, 0:3])


def test_add_gaussian_noise():
    clean = np.full((200, 200), 100, dtype=np.uint8)
    noisy = add_gaussian_noise(clean, 20.0, random_state=0)
    assert noisy.dtype == np.float32
    assert noisy.std() == pytest.approx(20.0, rel=0.02)
    assert noisy.mean() == pytest.approx(100.0, abs=0.5)
    assert noisy.min() < 100 - 60            # not clipped at either end...
    np.testing.assert_array_equal(noisy, add_gaussian_noise(clean, 20.0, random_state=0))
    assert [n.shape for n in add_gaussian_noise([clean, clean[:5]], 1.0, 0)] == [
        (200, 200), (5, 200)
    ]


def test_keep_annotated():
    _, y = make_blobs(n_images=6, shape=(16, 16), random_state=0)
    kept = keep_annotated(y, 2, random_state=0)
    annotated = kept.any(axis=(1, 2))
    assert annotated.sum() == 2
    np.testing.assert_array_equal(kept[annotated], y[annotated])
    assert y.any(axis=(1, 2)).all()          # input untouched
    assert isinstance(keep_annotated(list(y), 1, 0), list)
    with pytest.raises(ValueError, match="n_annotated must be in"):
        keep_annotated(y, 7)


def test_make_blobs_instances_are_separate():
    from scipy import ndimage

    _, y = make_blobs(n_images=3, shape=(48, 48), random_state=0)
    for labels in y:
        components, n = ndimage.label(labels > 0)
        assert n == len(np.unique(labels)) - 1


def test_make_nuclei_shapes_labels_and_determinism():
    X, y, clean = make_nuclei(n_images=3, shape=(96, 80), random_state=0)
    assert X.shape == y.shape == clean.shape == (3, 96, 80)
    assert X.dtype == clean.dtype == np.float32 and y.dtype == np.int32
    for labels in y:
        ids = np.unique(labels[labels > 0])
        np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))   # numbered 1..n
        for i in ids:                                   # each nucleus one connected piece
            assert ndimage.label(labels == i)[1] == 1 and (labels == i).sum() >= 15
    # nuclei touch: some objects share a border, unlike make_blobs
    assert any((ndimage.binary_dilation(labels == i) & (labels > 0) & (labels != i)).any()
               for labels in y for i in np.unique(labels[labels > 0]))
    # the stain lies on the nuclei: brighter inside than outside
    assert all(c[labels > 0].mean() > 3 * c[labels == 0].mean() for c, labels in zip(clean, y))
    again = make_nuclei(n_images=3, shape=(96, 80), random_state=0)
    for first, second in zip((X, y, clean), again):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(make_nuclei(n_images=1, shape=(96, 80), random_state=1)[1], y[:1])


def test_make_nuclei_noise_is_poisson_gaussian():
    X, _, clean = make_nuclei(n_images=4, shape=(128, 128), photons=50.0, read_noise=3.0,
                              random_state=0)
    residual = X - clean
    assert abs(residual.mean()) < 0.1
    # variance = expected photons + read noise variance, checked on bins of clean
    low, high = clean < np.percentile(clean, 30), clean > np.percentile(clean, 90)
    for part in (low, high):
        expected = clean[part].mean() + 9.0
        assert residual[part].var() == pytest.approx(expected, rel=0.1)
    quieter = make_nuclei(n_images=4, shape=(128, 128), photons=500.0, read_noise=3.0,
                          random_state=0)
    snr = [(c.max() - c.min()) / (x - c).std() for x, c in ((X, clean), (quieter[0], quieter[2]))]
    assert snr[1] > 2 * snr[0]                          # more photons, less relative noise
